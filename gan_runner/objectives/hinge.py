"""Hinge loss (Lim & Ye 2017; Tran et al. 2017), as used by SNGAN, SAGAN and BigGAN.

D minimises E_p[max(0, 1 - D(x))] + E_q[max(0, 1 + D(x))]; G minimises -E_q[D(G(z))].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_runner.objectives import Objective


class Hinge(Objective):
    decision_threshold = 0.0  # the hinge's margins are +1 for real and -1 for fake
    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return -fake_scores.mean()
