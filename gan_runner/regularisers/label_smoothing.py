"""One-sided label smoothing (Salimans et al. 2016, section 3.4): the discriminator's target for real
samples is `real_label` (0.9) instead of 1, while fakes keep the target 0.

For the sigmoid cross-entropy losses this is an additive term: with s a real sample's score,
-α log σ(s) - (1 - α) log(1 - σ(s)) = -log σ(s) + (1 - α) s, because log σ(s) - log(1 - σ(s)) = s.
So the regulariser adds (1 - α) E_p[s] to D's loss of whatever objective is chosen, which is exactly
label smoothing for the objectives whose D loss is that cross-entropy (they declare `logistic`: minimax,
nonsaturating, fgan_gan, fgan_js), and a plain pull on real scores for the others (a warning says so).
"""

from __future__ import annotations

import torch

from gan_runner.objectives import Objective
from gan_runner.regularisers import Critic, Regulariser


class LabelSmoothing(Regulariser):
    def __init__(self, real_label: float = 0.9) -> None:
        if not 0 < real_label <= 1:
            raise ValueError(f"label_smoothing real_label must lie in (0, 1], got {real_label}")
        super().__init__(weight=1.0 - real_label)
        self.real_label = real_label

    def warnings(self, objective: Objective, regularisers: dict[str, Regulariser]) -> list[str]:
        if objective.logistic:
            return []
        return [f"label smoothing with {type(objective).__name__}: smoothing is defined for the sigmoid "
                "cross-entropy losses (minimax, nonsaturating, fgan_gan, fgan_js); with this objective it only adds "
                f"{1 - self.real_label:g} x the mean real score to D's loss"]

    def penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor,
        real_scores: torch.Tensor | None = None, fake_scores: torch.Tensor | None = None,
        real_labels: torch.Tensor | None = None, fake_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return real_scores.mean()
