"""GAN objectives: pairs of losses computed from the discriminator's raw scores.

Convention, written once: the discriminator returns raw scores, one per sample, and a higher score
means "more real". Every objective interprets those scores itself; sigmoids live inside the losses,
never in the network. An objective holds no state, does no backward pass and never sees an optimiser.
"""

from __future__ import annotations

import torch


class Objective:
    """The contract every objective meets: two pure functions of the discriminator's scores."""

    # Relativistic losses compare fake scores with real ones in the generator's loss too; for the
    # others the generator's step scores only the fake batch, which saves a quarter of the step.
    g_needs_real_scores: bool = False
    # The Wasserstein critic's loss is unbounded unless the critic is kept Lipschitz by a regulariser.
    needs_lipschitz_critic: bool = False
    # D's loss is the sigmoid cross-entropy of its scores (up to a constant), so "labels" of real and fake
    # samples have their usual meaning (one-sided label smoothing is defined for these).
    logistic: bool = False
    # The score above which D calls a sample real, so that its accuracy on real and fake samples is defined
    # (logged as d/accuracy_real and d/accuracy_fake); None for critics without one (Wasserstein, relativistic).
    decision_threshold: float | None = None

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss, to be minimised."""
        raise NotImplementedError

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The generator's loss, to be minimised (`real_scores` serves relativistic losses)."""
        raise NotImplementedError
