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

Two options of both networks follow the official code where it departs from the paper's text, defaults as before:
`attention_pool: 2` max-pools the keys and values over 2x2 windows before the attention product, so each position
attends over HW/4 pooled positions (brain-research/self-attention-gan non_local.py: `max_pooling2d` of phi and g;
ajbrock/BigGAN-PyTorch layers.py Attention: `F.max_pool2d(self.phi(x), [2,2])` and the same of g); 1 attends over
every position. `attention_bias: false` builds the four 1x1 convolutions without bias, as both codes do
(non_local.py's conv1x1 adds none; layers.py: `bias=False`). D's `output_bias` is resnet.py's.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.arch import resnet


class SelfAttention(nn.Module):
    """The attention layer of the module's docstring. `pool` p > 1: keys and values max-pooled over p x p windows
    (stride p), so each position attends over HW / p^2 positions (the official code's p = 2); `bias`: whether the
    1x1 convolutions have biases."""

    def __init__(self, channels: int, pool: int = 1, bias: bool = True) -> None:
        super().__init__()
        reduced, values = max(1, channels // 8), max(1, channels // 2)
        self.pool = pool
        self.query = resnet.conv(channels, reduced, 1, bias=bias)
        self.key = resnet.conv(channels, reduced, 1, bias=bias)
        self.value = resnet.conv(channels, values, 1, bias=bias)
        self.out = resnet.conv(values, channels, 1, bias=bias)
        self.gamma = nn.Parameter(torch.zeros(()))

    def pooled(self, h: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(h, self.pool) if self.pool > 1 else h

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """Attention weights, N x positions x key positions (HW / pool^2): row j is how position j's output weighs
        every key position."""
        queries, keys = self.query(x).flatten(2), self.pooled(self.key(x)).flatten(2)  # N x C/8 x HW (/ pool^2)
        return torch.softmax(queries.transpose(1, 2) @ keys, dim=-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # y is accepted and ignored so that the layer sits among the generator's conditional blocks.
        n, _, height, width = x.shape
        values = self.pooled(self.value(x)).flatten(2)  # N x C/2 x HW (/ pool^2)
        attended = values @ self.weights(x).transpose(1, 2)  # N x C/2 x HW
        return self.gamma * self.out(attended.view(n, -1, height, width)) + x


def check_attention_options(attention_pool: int, attention_bias: bool, sides: Sequence[int], network: str) -> None:
    """Refuses a pooling window that is not a whole number >= 1 or does not tile the attended maps (of `sides`)."""
    if isinstance(attention_pool, bool) or not isinstance(attention_pool, int) or attention_pool < 1:
        raise ValueError(f"attention_pool must be a whole number >= 1 (1: attend over every position; 2: keys and "
                         f"values 2x2 max-pooled, as SAGAN's and BigGAN's code), got {attention_pool!r}")
    untiled = sorted(side for side in sides if side % attention_pool)
    if untiled:
        raise ValueError(f"attention_pool={attention_pool} must divide the side of every map that gets attention, "
                         f"but the {network}'s attention is at side {untiled}; choose another attention_at or "
                         "attention_pool")
    if not isinstance(attention_bias, bool):
        raise ValueError(f"attention_bias must be true or false (whether the attention's 1x1 convolutions have "
                         f"biases), got {attention_bias!r}")


def with_attention(blocks: nn.ModuleList, sites: list[tuple[int, int, int]], attention_at: Sequence[int],
                   network: str, attention_pool: int = 1, attention_bias: bool = True) -> nn.ModuleList:
    """`blocks` with a SelfAttention layer (keys and values pooled by `attention_pool`, convolutions with biases if
    `attention_bias`) at the first site of each side in `attention_at`. A site is (position, side, channels): the
    feature map after the first `position` blocks."""
    available = sorted({side for _, side, _ in sites})
    unknown = sorted(set(attention_at) - set(available))
    if unknown:
        raise ValueError(f"attention_at={list(attention_at)}, but at this resolution the {network}'s feature maps "
                         f"have sides {available} (none of side {unknown}); choose among them, e.g. "
                         f"arch.{network}.attention_at=[{available[len(available) // 2]}]")
    check_attention_options(attention_pool, attention_bias, attention_at, network)
    at: dict[int, int] = {}  # position -> channels
    for side in set(attention_at):
        position, _, channels = next(site for site in sites if site[1] == side)
        at[position] = channels
    layers: list[nn.Module] = []
    for position in range(len(blocks) + 1):
        if position in at:
            layers.append(SelfAttention(at[position], attention_pool, attention_bias))
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
                 attention_at: Sequence[int] | None = None, attention_pool: int = 1,
                 attention_bias: bool = True) -> None:
        super().__init__(z_dim, data_shape, width, factors, num_classes)
        sites = [(position, side, channels) for position, (side, channels) in enumerate(self.maps)]
        self.blocks = with_attention(self.blocks, sites, attention_sides(attention_at, data_shape), "generator",
                                     attention_pool, attention_bias)


class Discriminator(resnet.Discriminator):
    family = "SAGAN"

    def __init__(self, data_shape: Sequence[int], width: int | None = None, factors: Sequence[int] | None = None,
                 num_classes: int | None = None, attention_at: Sequence[int] | None = None,
                 attention_pool: int = 1, attention_bias: bool = True, output_bias: bool = True) -> None:
        super().__init__(data_shape, width, factors, num_classes, output_bias)
        sites = [(position + 1, side, channels) for position, (side, channels) in enumerate(self.maps)]
        self.blocks = with_attention(self.blocks, sites, attention_sides(attention_at, data_shape), "discriminator",
                                     attention_pool, attention_bias)
