"""Multi-layer perceptrons for 2-D toy data and flattened images.

Class-conditional (num_classes set): a learned label embedding of `embed_dim` is concatenated to z in G and
to the flattened data in D (Mirza & Osindero 2014, with an embedding in place of the one-hot vector).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from gan_runner.arch import check_labels, check_num_classes


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
        num_classes: int | None = None,
        embed_dim: int = 16,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.data_shape, self.num_classes = tuple(data_shape), num_classes
        inputs = z_dim + (embed_dim if num_classes is not None else 0)
        self.net = _mlp(inputs, math.prod(self.data_shape), depth, width, activation)
        self.output = nn.Tanh() if len(self.data_shape) == 3 else nn.Identity()
        if num_classes is not None:
            self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        if self.num_classes is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.output(self.net(z)).view(z.shape[0], *self.data_shape)


class Discriminator(nn.Module):
    """Flattened data -> `depth` hidden layers of `width` units -> one raw score per sample."""

    def __init__(
        self,
        data_shape: Sequence[int],
        depth: int = 3,
        width: int = 256,
        activation: Callable[[], nn.Module] = nn.ReLU,
        num_classes: int | None = None,
        embed_dim: int = 16,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.num_classes = num_classes
        inputs = math.prod(data_shape) + (embed_dim if num_classes is not None else 0)
        self.net = _mlp(inputs, 1, depth, width, activation)
        if num_classes is not None:
            self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        x = x.flatten(1)
        if self.num_classes is not None:
            x = torch.cat([x, self.embed(y)], 1)
        return self.net(x).squeeze(1)
