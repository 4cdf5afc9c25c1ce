"""Weight clipping (Arjovsky et al. 2017): every weight of the critic clamped to [-c, c], c = 0.01 in the paper.

A crude way to keep the critic K-Lipschitz for some K, which WGAN needs. `when`: "after" each critic update, as the
paper's Algorithm 1 writes it (and gan-runner's default), or "before" it, before its forward pass, as the authors'
code does (martinarjovsky/WassersteinGAN main.py: `p.data.clamp_` at the top of each critic iteration): there the
critic that G's update scores is the one the last critic update left, unclamped.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser


class WeightClipping(Regulariser):
    constrains_lipschitz = True
    edits_weights_after_step = True

    def __init__(self, clip_value: float = 0.01, when: str = "after") -> None:
        super().__init__()
        if clip_value <= 0:
            raise ValueError(f"clip_value must be positive, got {clip_value}")
        if when not in ("before", "after"):
            raise ValueError(f"clip's when must be before or after (the critic's update), got {when!r}")
        self.clip_value, self.when = clip_value, when

    def warnings(self, objective: Objective, regularisers: dict[str, Regulariser]) -> list[str]:
        if any(r.penalises_input_gradient and r.constrains_lipschitz for r in regularisers.values()):
            return ["weight clipping with a gradient penalty: the penalty was introduced to replace clipping "
                    "(Gulrajani et al. 2017), and clipping keeps the critic from reaching the gradient norm "
                    "the penalty asks for; drop clip"]
        return []

    @torch.no_grad()
    def clamp(self, discriminator: nn.Module) -> None:
        for parameter in discriminator.parameters():
            parameter.clamp_(-self.clip_value, self.clip_value)

    def before_d_step(self, discriminator: nn.Module) -> None:
        if self.when == "before":
            self.clamp(discriminator)

    def after_d_step(self, discriminator: nn.Module) -> None:
        if self.when == "after":
            self.clamp(discriminator)
