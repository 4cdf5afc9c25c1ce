"""2-D mixtures of Gaussians, exactly as PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017)
define them, so that mode counts and high-quality fractions compare with their tables.

- ring8: 8 equal-weight Gaussians on the unit circle, std 0.01.
- grid25: 25 equal-weight Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

from gan_runner.data import Samples


class GaussianMixture:
    """Equal-weight isotropic Gaussians at `centres` (K x 2) with standard deviation `std`.

    Every batch is fresh: the mixture is sampled, never a fixed training set. The label of a sample
    is the index of the mode it was drawn from.
    """

    shape = (2,)

    def __init__(self, centres: torch.Tensor, std: float) -> None:
        self.centres = centres.float()
        self.std = float(std)
        self.num_classes = len(centres)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Samples:
        modes = torch.randint(len(self.centres), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator) * self.std
        return self.centres[modes] + noise, modes

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None) -> Iterator[Samples]:
        """Drawn on the CPU with `generator` (the same numbers on any machine); the loop moves them."""
        for _ in range(start):  # a skipped batch is nothing but its random draws: make them, keep nothing
            torch.randint(len(self.centres), (batch_size,), generator=generator)
            torch.randn(batch_size, 2, generator=generator)
        while True:
            yield self.sample(batch_size, generator)


class Ring(GaussianMixture):
    def __init__(self, modes: int = 8, radius: float = 1.0, std: float = 0.01) -> None:
        angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
        super().__init__(torch.stack([angles.cos(), angles.sin()], 1) * radius, std)


class Grid(GaussianMixture):
    def __init__(self, side: int = 5, spacing: float = 2.0, std: float = 0.05) -> None:
        coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
        xs, ys = torch.meshgrid(coords, coords, indexing="ij")
        super().__init__(torch.stack([xs.flatten(), ys.flatten()], 1), std)
