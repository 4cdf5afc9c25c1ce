"""Relativistic average GANs (Jolicoeur-Martineau 2018, "The relativistic discriminator").

The critic C judges whether a real sample is more realistic than the average fake one, and a fake one
than the average real one: D̃(x_r) = C(x_r) - E_q[C(x_f)], D̃(x_f) = C(x_f) - E_p[C(x_r)]. Each loss
applies a standard GAN loss to these relative scores and the generator's loss is the mirror image of
the discriminator's, so the generator also pulls the real scores down: it needs both batches' scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_runner.objectives import Objective


class RelativisticAverage(Objective):
    g_needs_real_scores = True

    def loss(self, above: torch.Tensor, below: torch.Tensor) -> torch.Tensor:
        """The loss for scores that should be `above` the other side's mean, and `below` it."""
        raise NotImplementedError

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return self.loss(real_scores - fake_scores.mean(), fake_scores - real_scores.mean())

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        if real_scores is None:
            raise ValueError("relativistic losses need the real samples' scores in the generator's loss")
        return self.loss(fake_scores - real_scores.mean(), real_scores - fake_scores.mean())


class RaSGAN(RelativisticAverage):
    """Standard (cross-entropy): -E[log sigmoid(above)] - E[log(1 - sigmoid(below))]."""

    def loss(self, above: torch.Tensor, below: torch.Tensor) -> torch.Tensor:
        return F.softplus(-above).mean() + F.softplus(below).mean()


class RaLSGAN(RelativisticAverage):
    """Least squares: E[(above - 1)^2] + E[(below + 1)^2]."""

    def loss(self, above: torch.Tensor, below: torch.Tensor) -> torch.Tensor:
        return ((above - 1) ** 2).mean() + ((below + 1) ** 2).mean()


class RaHinge(RelativisticAverage):
    """Hinge: E[max(0, 1 - above)] + E[max(0, 1 + below)]."""

    def loss(self, above: torch.Tensor, below: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - above).mean() + F.relu(1 + below).mean()
