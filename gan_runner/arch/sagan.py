"""Self-attention GAN (Zhang et al. 2019, SAGAN): the ResNet generator and discriminator of resnet.py with
self-attention layers between their blocks, at the feature-map sides listed in `attention_at`.

Self-attention: 1x1 convolutions give queries and keys of C/8 channels and values of C/2 (the authors' and
BigGAN's code; the paper's text says C/8 for all three); each position's output is the softmax-weighted sum
of the values over all positions, weights softmax_i(q_j . k_i) without scaling as in the paper, mapped back
to C channels by a 1x1 convolution o, and y = gamma * o + x with a learned gate gamma that starts at 0, so
an untrained layer is the identity and the network first learns from local features.

`attention_at: [16]` puts one layer after the first feature map of side 16 (in G: the bottom map counts,
after the input layer; in D: the maps after its blocks). The default, null, is half the image side in both,
e.g. 16 at 32x32 and 64 at 128x128 (where SAGAN and BigGAN put theirs). Conditional runs use resnet.py's
conditional batch norm and projection discriminator.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from gan_runner.arch import resnet


class SelfAttention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        reduced, values = max(1, channels // 8), max(1, channels // 2)
        self.query = resnet.conv(channels, reduced, 1)
        self.key = resnet.conv(channels, reduced, 1)
        self.value = resnet.conv(channels, values, 1)
        self.out = resnet.conv(values, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """Attention weights, N x positions x positions: row j is how position j's output weighs every position."""
        queries, keys = self.query(x).flatten(2), self.key(x).flatten(2)  # N x C/8 x HW
        return torch.softmax(queries.transpose(1, 2) @ keys, dim=-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # y is accepted and ignored so that the layer sits among the generator's conditional blocks.
        n, _, height, width = x.shape
        attended = self.value(x).flatten(2) @ self.weights(x).transpose(1, 2)  # N x C/2 x HW
        return self.gamma * self.out(attended.view(n, -1, height, width)) + x


def with_attention(blocks: nn.ModuleList, sites: list[tuple[int, int, int]], attention_at: Sequence[int],
                   network: str) -> nn.ModuleList:
    """`blocks` with a SelfAttention layer at the first site of each side in `attention_at`. A site is
    (position, side, channels): the feature map after the first `position` blocks."""
    available = sorted({side for _, side, _ in sites})
    unknown = sorted(set(attention_at) - set(available))
    if unknown:
        raise ValueError(f"attention_at={list(attention_at)}, but at this resolution the {network}'s feature maps "
                         f"have sides {available} (none of side {unknown}); choose among them, e.g. "
                         f"arch.{network}.attention_at=[{available[len(available) // 2]}]")
    at: dict[int, int] = {}  # position -> channels
    for side in set(attention_at):
        position, _, channels = next(site for site in sites if site[1] == side)
        at[position] = channels
    layers: list[nn.Module] = []
    for position in range(len(blocks) + 1):
        if position in at:
            layers.append(SelfAttention(at[position]))
        if position < len(blocks):
            layers.append(blocks[position])
    return nn.ModuleList(layers)


def attention_sides(attention_at: Sequence[int] | None, data_shape: Sequence[int]) -> list[int]:
    """The sides that get an attention layer: `attention_at`, or half the image side when it is None."""
    return [data_shape[-1] // 2] if attention_at is None else [int(side) for side in attention_at]


class Generator(resnet.Generator):
    family = "SAGAN"

    def __init__(self, z_dim: int, data_shape: Sequence[int], width: int | None = None,
                 factors: Sequence[int] | None = None, num_classes: int | None = None,
                 attention_at: Sequence[int] | None = None) -> None:
        super().__init__(z_dim, data_shape, width, factors, num_classes)
        sites = [(position, side, channels) for position, (side, channels) in enumerate(self.maps)]
        self.blocks = with_attention(self.blocks, sites, attention_sides(attention_at, data_shape), "generator")


class Discriminator(resnet.Discriminator):
    family = "SAGAN"

    def __init__(self, data_shape: Sequence[int], width: int | None = None, factors: Sequence[int] | None = None,
                 num_classes: int | None = None, attention_at: Sequence[int] | None = None) -> None:
        super().__init__(data_shape, width, factors, num_classes)
        sites = [(position + 1, side, channels) for position, (side, channels) in enumerate(self.maps)]
        self.blocks = with_attention(self.blocks, sites, attention_sides(attention_at, data_shape), "discriminator")
