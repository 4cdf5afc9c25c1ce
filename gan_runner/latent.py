"""The generator's noise: the distribution z is drawn from, chosen by the config's `latent` key.

- normal: z ~ N(0, I), every preset's choice and the default.
- uniform: z ~ U(-1, 1) per coordinate, the noise of Goodfellow et al. (2014)'s 1-D figure and of DCGAN.

Each latent draws `sample(n, z_dim, generator, device)` and maps probabilities to values with `quantile(u)`
(the 1-D picture draws the mapping x = G(z) at evenly spread quantiles). The generator built for a run carries
its latent as `G.latent` (build.networks), so training, sample pictures, gan-sample and gan-eval all draw
the noise G was trained on.
"""

from __future__ import annotations

import math

import torch

from gan_runner.errors import UserError


class StandardNormal:
    """z ~ N(0, I): the same draws as torch.randn, so runs that keep the default are unchanged."""

    name = "normal"

    def sample(self, n: int, z_dim: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        return torch.randn(n, z_dim, generator=generator, device=device)

    def quantile(self, u: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2.0) * torch.erfinv(2 * u - 1)


class Uniform:
    """z ~ U(low, high) per coordinate."""

    name = "uniform"

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        self.low, self.high = float(low), float(high)

    def sample(self, n: int, z_dim: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        return self.low + (self.high - self.low) * torch.rand(n, z_dim, generator=generator, device=device)

    def quantile(self, u: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * u


LATENTS = {latent.name: latent for latent in (StandardNormal(), Uniform())}
STANDARD_NORMAL = LATENTS["normal"]


def latent_named(name: str) -> StandardNormal | Uniform:
    """The latent the config's `latent` key names; a UserError that lists the choices otherwise."""
    if name not in LATENTS:
        raise UserError(f"latent must be one of {', '.join(LATENTS)}, got {name!r}. Fix: gan-run latent=normal "
                        "(z ~ N(0, I)) or latent=uniform (z ~ U(-1, 1)).")
    return LATENTS[name]
