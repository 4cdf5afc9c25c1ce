"""The 1-D game of Goodfellow et al. (2014), Figure 1: data x ~ N(mean, std), a generator mapping noise z to x,
and a discriminator whose curve D(x) should approach D*(x) = p(x) / (p(x) + q(x)) for the current generator.

The paper's figure is a schematic without numbers; the defaults mean 4, std 0.5 are those of the common
reproduction by John Glover (AYLIEN's gan-intro, 2016), whose generator also reads uniform noise. The noise is
the config's `latent` key (gan_runner.latent), which conf/dataset/gauss1d.yaml sets to uniform.

The dataset draws its own sample picture (`picture`, which record.sample_picture calls when a dataset has one):
p, q, D and D* over x, and below them the mapping x = G(z) when z is one-dimensional.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from gan_runner.data import Samples
from gan_runner.metrics import Sampler
from gan_runner.pictures import GameCurves, game_plot

PICTURE_SAMPLES = 5000  # G's samples behind q's estimate: enough for a smooth KDE, a few ms for a small MLP
GRID_POINTS = 400
MAPPING_LINES = 25  # arrows from z to x = G(z), at evenly spread quantiles of z (as the paper's lower panel)


def normal_density(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def kde_density(x: torch.Tensor, samples: torch.Tensor, min_bandwidth: float = 0.0) -> torch.Tensor:
    """A Gaussian kernel density estimate of `samples` at `x`, with Silverman's rule-of-thumb bandwidth,
    0.9 min(std, IQR / 1.34) n^(-1/5), at least `min_bandwidth` (a collapsed generator has std 0)."""
    samples = samples.flatten().double()
    quartiles = torch.quantile(samples, torch.tensor([0.25, 0.75], dtype=samples.dtype))
    spread = min(float(samples.std()), float(quartiles[1] - quartiles[0]) / 1.34)
    bandwidth = max(0.9 * spread * len(samples) ** -0.2, min_bandwidth, 1e-6)
    return normal_density(x.double()[:, None], samples[None, :], bandwidth).mean(1).to(x.dtype)


def optimal_discriminator(p: torch.Tensor, q: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """D* = p / (p + q), the best discriminator against a fixed generator (Goodfellow et al. 2014, Prop. 1);
    NaN where p + q < floor, where neither density says anything (and a plot shows a gap)."""
    total = p + q
    return torch.where(total >= floor, p / total.clamp(min=floor), torch.full_like(total, float("nan")))


class Gaussian1D:
    """x ~ N(mean, std), shape (1,), no labels. Every batch is fresh, as the 2-D mixtures' (data/toy.py)."""

    shape = (1,)
    num_classes = None

    def __init__(self, mean: float = 4.0, std: float = 0.5, view: Sequence[float] | None = None) -> None:
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.mean, self.std = float(mean), float(std)
        # The picture's x range: fixed, so that the frames of training.gif share their axes; None: from the data
        # and the generator's samples at each picture.
        self.view = tuple(float(v) for v in view) if view is not None else None

    def sample(self, n: int, generator: torch.Generator | None = None) -> Samples:
        return torch.randn(n, 1, generator=generator) * self.std + self.mean, None

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None) -> Iterator[Samples]:
        """Drawn on the CPU with `generator`; the loop moves them."""
        for _ in range(start):  # a skipped batch is nothing but its draws
            torch.randn(batch_size, 1, generator=generator)
        while True:
            yield self.sample(batch_size, generator)

    def density(self, x: torch.Tensor) -> torch.Tensor:
        return normal_density(x, self.mean, self.std)

    def x_range(self, samples: torch.Tensor) -> tuple[float, float]:
        if self.view is not None:
            return self.view
        low, high = torch.quantile(samples.flatten(), torch.tensor([0.005, 0.995])).tolist()
        low, high = min(low, self.mean - 4 * self.std), max(high, self.mean + 4 * self.std)
        margin = 0.05 * (high - low)
        return low - margin, high + margin

    def curves(self, G: nn.Module, D: nn.Module, objective: Any, z_dim: int, sample: Sampler) -> GameCurves:
        """The picture's numbers; `sample` draws G's samples (as the metrics do), `objective.logistic` says
        whether sigmoid(score) is D's probability of "real" (then D* is its target)."""
        device = next(D.parameters()).device
        samples = torch.cat([points.cpu() for points in sample(PICTURE_SAMPLES)]).flatten().float()
        low, high = self.x_range(samples)
        x = torch.linspace(low, high, GRID_POINTS)
        p = self.density(x)
        q = kde_density(x, samples, min_bandwidth=(high - low) / GRID_POINTS)
        with torch.no_grad():
            scores = D(x[:, None].to(device)).float().cpu()
            logistic = bool(getattr(objective, "logistic", False))
            d = torch.sigmoid(scores) if logistic else scores
            mapping = None
            latent = getattr(G, "latent", None)
            if z_dim == 1 and latent is not None:  # the paper's lower panel needs a z line
                z = latent.quantile(torch.linspace(0.02, 0.98, MAPPING_LINES))[:, None]
                mapping = (z, G(z.to(device)).flatten().float().cpu())
        return GameCurves(x, p, q, samples, d, logistic, optimal_discriminator(p, q) if logistic else None, mapping)

    def picture(self, G: nn.Module, D: nn.Module, objective: Any, fixed: tuple[torch.Tensor, Any],
                sample: Sampler, step: int) -> np.ndarray:
        """Goodfellow et al. (2014)'s Figure 1 for this run at `step` (uint8 H x W x 3)."""
        z_dim = fixed[0].shape[1]
        return game_plot(self.curves(G, D, objective, z_dim, sample), f"step {step}")
