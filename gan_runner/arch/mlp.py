"""Multi-layer perceptrons for 2-D toy data and flattened images."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn


def _mlp(
    in_features: int, out_features: int, depth: int, width: int, activation: Callable[[], nn.Module]
) -> nn.Sequential:
    if depth < 1 or width < 1:
        raise ValueError(f"an MLP needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    features = in_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation()]
        features = width
    layers.append(nn.Linear(features, out_features))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """z -> `depth` hidden layers of `width` units -> data.

    Images (samples of shape C x H x W) live in [-1, 1], so their output goes through tanh; vector data
    (the 2-D mixtures) is unbounded, so its output is linear.
    """

    def __init__(
        self,
        z_dim: int,
        data_shape: Sequence[int],
        depth: int = 3,
        width: int = 256,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.net = _mlp(z_dim, math.prod(self.data_shape), depth, width, activation)
        self.output = nn.Tanh() if len(self.data_shape) == 3 else nn.Identity()

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.net(z)).view(z.shape[0], *self.data_shape)


class Discriminator(nn.Module):
    """Flattened data -> `depth` hidden layers of `width` units -> one raw score per sample."""

    def __init__(
        self,
        data_shape: Sequence[int],
        depth: int = 3,
        width: int = 256,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.net = _mlp(math.prod(data_shape), 1, depth, width, activation)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)
