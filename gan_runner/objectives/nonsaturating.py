"""The non-saturating GAN (Goodfellow et al. 2014, section 3): G maximises log D(G(z)) instead.

Same discriminator as the minimax game; the generator's loss -E_q[log D(G(z))] has the same fixed
point but strong gradients early in training, when D rejects every sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_runner.objectives.minimax import Minimax


class NonSaturating(Minimax):
    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()
