"""Mode metrics for the 2-D mixtures, as VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018)
define them: draw 2,500 samples; a sample is high quality when it lies within 3 standard deviations of
its nearest mode centre; a mode is covered when at least one high-quality sample is nearest to it; the
reverse KL is KL(q || p) between the histogram q of high-quality samples over the modes and the
uniform p of the true mixture.

`toy/modes_then_quality` = modes + high_quality / 2 decides checkpoints/best.pt (higher is better). Ranking by
the high-quality fraction alone would prefer a generator collapsed onto one mode (every sample there: 100 %)
to one covering all eight at 90 %. This value orders runs by modes first and high quality only between runs
covering as many modes: covering m + 1 modes scores at least m + 1, more than m + 1/2, the most that m modes can
score. Read it as modes (the integer part) and high-quality fraction (twice the rest): 8.45 is 8 modes, 90 %.
(Halving keeps a full 100 % from reaching the next integer, so the integer part is always the modes.)"""

from __future__ import annotations

import torch

from gan_runner.data.toy import GaussianMixture
from gan_runner.errors import UserError
from gan_runner.metrics import Metric, Sampler, kl_to_uniform


def mode_statistics(samples: torch.Tensor, centres: torch.Tensor, std: float) -> dict[str, float]:
    distances = torch.cdist(samples.double(), centres.double())
    nearest_distance, nearest_mode = distances.min(1)
    high_quality = nearest_distance <= 3 * std
    counts = torch.bincount(nearest_mode[high_quality], minlength=len(centres))
    modes, quality = float((counts > 0).sum()), high_quality.double().mean().item()
    return {
        "toy/modes": modes,
        "toy/high_quality": quality,
        "toy/reverse_kl": kl_to_uniform(counts),  # inf when no sample is near any mode
        "toy/modes_then_quality": modes + quality / 2,
    }


class ToyModes(Metric):
    best_key, higher_is_better = "toy/modes_then_quality", True  # see the module's docstring

    def __init__(self, n_samples: int = 2500, every: int = 0) -> None:
        super().__init__(every)
        self.n_samples = n_samples

    def check(self, dataset: object) -> None:
        if not isinstance(dataset, GaussianMixture):
            raise UserError(
                f"metrics=toy counts the modes of a 2-D Gaussian mixture, but the dataset is "
                f"{type(dataset).__name__}. Fix: use dataset=ring8 or dataset=grid25, or choose "
                "another metric (metrics=none)."
            )

    def __call__(self, sample: Sampler, dataset: GaussianMixture) -> dict[str, float]:
        samples = torch.cat([points.cpu() for points in sample(self.n_samples)])  # 2,500 points: held at once
        return mode_statistics(samples, dataset.centres, dataset.std)
