"""Regularisers: anything that changes the discriminator's step.

Each one implements only the hooks it needs; the others do nothing. The loop calls every hook of
every chosen regulariser, so adding one is a new file here and a new YAML file in conf/regulariser/.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Critic = Callable[[torch.Tensor], torch.Tensor]


class Regulariser:
    """Hooks on the discriminator's step, with lazy regularisation built in.

    `weight` scales the penalty; with `every = k` the penalty is computed on one discriminator step in
    k and multiplied by k, so that its expected contribution stays the same (StyleGAN2, section 3.1).
    """

    def __init__(self, weight: float = 1.0, every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"regulariser 'every' must be at least 1, got {every}")
        self.weight = weight
        self.every = every

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Called once before training: wrap modules, register buffers."""

    def penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor | None:
        """A term added to the discriminator's loss, before `weight`; None when there is none."""
        return None

    def after_d_step(self, discriminator: nn.Module) -> None:
        """Called after each optimiser step of the discriminator (to constrain its parameters)."""

    def scaled_penalty(
        self, step: int, critic: Critic, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The penalty as added to the loss (weight x every, on lazy steps only), and its raw value."""
        if step % self.every != 0:
            return None, None
        raw = self.penalty(critic, real, fake)
        if raw is None:
            return None, None
        return self.weight * self.every * raw, raw
