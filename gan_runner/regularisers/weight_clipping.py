"""Weight clipping (Arjovsky et al. 2017): after each critic step, every weight is clamped to [-c, c].

A crude way to keep the critic K-Lipschitz for some K, which WGAN needs; the paper uses c = 0.01.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser


class WeightClipping(Regulariser):
    constrains_lipschitz = True
    edits_weights_after_step = True

    def __init__(self, clip_value: float = 0.01) -> None:
        super().__init__()
        if clip_value <= 0:
            raise ValueError(f"clip_value must be positive, got {clip_value}")
        self.clip_value = clip_value

    def warnings(self, objective: Objective, regularisers: dict[str, Regulariser]) -> list[str]:
        if any(r.penalises_input_gradient and r.constrains_lipschitz for r in regularisers.values()):
            return ["weight clipping with a gradient penalty: the penalty was introduced to replace clipping "
                    "(Gulrajani et al. 2017), and clipping keeps the critic from reaching the gradient norm "
                    "the penalty asks for; drop clip"]
        return []

    @torch.no_grad()
    def after_d_step(self, discriminator: nn.Module) -> None:
        for parameter in discriminator.parameters():
            parameter.clamp_(-self.clip_value, self.clip_value)
