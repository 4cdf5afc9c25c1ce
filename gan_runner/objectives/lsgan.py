"""Least-squares GAN (Mao et al. 2017).

D minimises 1/2 E_p[(D(x) - b)^2] + 1/2 E_q[(D(x) - a)^2] and G minimises 1/2 E_q[(D(G(z)) - c)^2].
With b - c = 1 and b - a = 2 (a = -1, b = 1, c = 0) the generator minimises the Pearson chi-squared
divergence between p + q and 2q; the paper's experiments use the 0-1 coding a = 0, b = c = 1.
"""

from __future__ import annotations

import torch

from gan_runner.objectives import Objective


class LeastSquares(Objective):
    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        self.a, self.b, self.c = a, b, c
        self.decision_threshold = (a + b) / 2  # halfway between the fake and the real target

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_scores - self.b) ** 2).mean() + 0.5 * ((fake_scores - self.a) ** 2).mean()

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return 0.5 * ((fake_scores - self.c) ** 2).mean()
