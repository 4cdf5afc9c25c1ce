"""The original minimax GAN (Goodfellow et al. 2014), with the saturating generator loss.

D(x) = sigmoid(score). The value V(D, G) = E_p[log D(x)] + E_q[log(1 - D(x))] is maximised by D and
minimised by G; for a fixed G the best discriminator is D* = p / (p + q), and at D* the game
minimises 2 JS(p || q) - log 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_runner.objectives import Objective


class Minimax(Objective):
    logistic = True
    decision_threshold = 0.0  # sigmoid(score) = 1/2

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        # -log sigmoid(s) = softplus(-s) and -log(1 - sigmoid(s)) = softplus(s), both stable.
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        # G minimises E_q[log(1 - D(G(z)))] = -E_q[softplus(s)]: its gradient vanishes as D(G(z)) -> 0.
        return -F.softplus(fake_scores).mean()
