"""gan-runner: a Hydra experiment runner for Generative Adversarial Networks."""

__version__ = "0.1.0"
