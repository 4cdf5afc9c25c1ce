"""Wasserstein GAN (Arjovsky et al. 2017).

The critic maximises E_p[D(x)] - E_q[D(x)], which over 1-Lipschitz critics is the Wasserstein-1
distance (Kantorovich-Rubinstein duality). The Lipschitz constraint comes from a regulariser:
weight clipping (`clip`), a gradient penalty (`gp`) or spectral normalisation.
"""

from __future__ import annotations

import torch

from gan_runner.objectives import Objective


class Wasserstein(Objective):
    """`drift`: ProGAN's epsilon_drift (Karras et al. 2018, section A.1; loss.py D_wgangp_acgan wgan_epsilon 0.001),
    drift x E_p[D(x)^2] added to the critic's loss, which keeps its scores near 0 (the Wasserstein loss alone leaves
    their level free)."""

    needs_lipschitz_critic = True

    def __init__(self, drift: float = 0.0) -> None:
        if drift < 0:
            raise ValueError(f"objective.drift is a penalty's weight and must be >= 0, got {drift}. Fix: "
                             "objective.drift=0.001 (ProGAN's) or 0 (none)")
        self.drift = drift

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        loss = fake_scores.mean() - real_scores.mean()
        return loss + self.drift * real_scores.square().mean() if self.drift else loss

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return -fake_scores.mean()
