"""The generator's noise: the distribution z is drawn from, the `latent` config group (conf/latent/).

- normal: z ~ N(0, I), every preset's choice and the default.
- uniform: z ~ U(low, high) per coordinate, U(-1, 1) by default: the noise of Goodfellow et al. (2014)'s 1-D
  figure and of DCGAN.

Each latent draws `sample(n, z_dim, generator, device)` and maps probabilities to values with `quantile(u)`
(the 1-D picture draws the mapping x = G(z) at evenly spread quantiles). The generator built for a run carries
its latent as `G.latent` (build.networks), so training, sample pictures, gan-sample and gan-eval all draw
the noise G was trained on. A new distribution is a class here (or in a module of your own) and a YAML file in
conf/latent/ whose `_target_` names it.
"""

from __future__ import annotations

import math

import torch


class StandardNormal:
    """z ~ N(0, I): the same draws as torch.randn, so runs that keep the default are unchanged."""

    def sample(self, n: int, z_dim: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        return torch.randn(n, z_dim, generator=generator, device=device)

    def quantile(self, u: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2.0) * torch.erfinv(2 * u - 1)


class Uniform:
    """z ~ U(low, high) per coordinate."""

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        if not low < high:
            raise ValueError(f"latent.low must be below latent.high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def sample(self, n: int, z_dim: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        return self.low + (self.high - self.low) * torch.rand(n, z_dim, generator=generator, device=device)

    def quantile(self, u: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * u


STANDARD_NORMAL = StandardNormal()  # the noise of a generator built without a latent (a test's, or another tool's)
