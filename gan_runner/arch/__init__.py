"""Architectures: one file per family, each with a Generator and a Discriminator.

Contract: `Generator(z[N, z_dim], y=None) -> x` shaped like the data (images in [-1, 1]) and
`Discriminator(x, y=None) -> scores[N]`, raw scores where higher means "more real". `y` is the class
label for conditional models; unconditional models accept and ignore it.
"""

from __future__ import annotations

from torch import nn


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
