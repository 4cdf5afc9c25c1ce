"""gan-run's Hydra configs, one folder per config group; installed as the package gan_runner.conf."""
