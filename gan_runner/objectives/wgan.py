"""Wasserstein GAN (Arjovsky et al. 2017).

The critic maximises E_p[D(x)] - E_q[D(x)], which over 1-Lipschitz critics is the Wasserstein-1
distance (Kantorovich-Rubinstein duality). The Lipschitz constraint comes from a regulariser:
weight clipping (`clip`), a gradient penalty (`gp`) or spectral normalisation.
"""

from __future__ import annotations

import torch

from gan_runner.objectives import Objective


class Wasserstein(Objective):
    needs_lipschitz_critic = True

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return -fake_scores.mean()
