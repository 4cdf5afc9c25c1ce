"""Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise N(0, σ²I) on every input
the discriminator sees in training, real and fake, in its own step and in the generator's. The noise
makes the two distributions overlap, so D cannot separate them perfectly and G's gradients stay
informative; σ falls linearly from `sigma` to 0 over `anneal_steps` discriminator steps, after which
training goes on without noise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan_runner import distributed
from gan_runner.regularisers import Regulariser


class InstanceNoise(Regulariser):
    replayable = False  # σ is a Python number that anneals with each step: a recorded step would keep one σ

    def __init__(self, sigma: float = 0.1, anneal_steps: int = 2000) -> None:
        super().__init__()
        if sigma < 0 or anneal_steps < 1:
            raise ValueError(f"instance_noise needs sigma >= 0 and anneal_steps >= 1, got {sigma} and {anneal_steps}")
        self.sigma, self.anneal_steps = sigma, anneal_steps
        self.d_steps = 0

    @property
    def current_sigma(self) -> float:
        return self.sigma * max(0.0, 1.0 - self.d_steps / self.anneal_steps)

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        discriminator.register_forward_pre_hook(self._add_noise)

    def _add_noise(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        sigma = self.current_sigma
        if not module.training or sigma == 0:  # evaluation and plots see D as it is
            return None
        x = args[0]
        # Each process's own slice of the noise (all draw alike): not one process's draws for the same samples,
        # since D's input stacks real and fake of this process only; the same distribution.
        noise = distributed.per_sample(torch.randn, x.shape, device=x.device, dtype=x.dtype)
        return (x + sigma * noise, *args[1:])

    def after_d_step(self, discriminator: nn.Module) -> None:
        self.d_steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"d_steps": self.d_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.d_steps = int(state["d_steps"])
