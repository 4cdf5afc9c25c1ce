"""Residual GANs: SNGAN's ResNets (Miyato et al. 2018), class-conditional through conditional batch norm in
the generator and the projection discriminator (Miyato & Koyama 2018).

Generator: a linear layer from z to a `bottom` x `bottom` map, up-blocks that double the side
(BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus an upsampled 1x1 convolution as shortcut), then
BN-ReLU-conv3x3-tanh. Discriminator: an "optimised" first block (conv3x3-ReLU-conv3x3-avgpool, shortcut
avgpool-conv1x1), blocks ReLU-conv3x3-ReLU-conv3x3[-avgpool] (shortcut conv1x1[-avgpool] where the width
or side changes), ReLU, a sum over positions and a linear layer to the score.

Channel widths are `width` x a factor per level. The layout (starting side, widths, how many of D's blocks
halve the side) follows the image side, taken from the dataset:

- 32: SNGAN's CIFAR-10 networks (paper, appendix B, table 4): G 4x4x256, three up-blocks of 256;
  D blocks of 128: optimised 32->16, down 16->8, two plain blocks at 8. G 4.28M, D 1.05M parameters (z 128).
- 48: SNGAN's STL-10 networks (table 5): G 6x6x512 and up-blocks to 256, 128, 64; D 64, 128, 256, 512 with
  halving (48->3) and a plain block of 1024.
- 64: the projection discriminator's 64x64 networks (Miyato & Koyama's code): G 4x4 x 16ch and up-blocks to
  8ch, 4ch, 2ch, ch; D ch, 2ch, 4ch, 8ch, 16ch, each halving (64->2); ch = 64.
- 128: their ImageNet 128x128 networks: G 4x4 x 16ch, up-blocks to 16ch, 8ch, 4ch, 2ch, ch; D ch ... 16ch
  halving (128->4) and a plain block of 16ch; ch = 64.
- 8 and 16 (digits at its own size, quick runs): the CIFAR layout with one or two up-blocks, and D's four
  blocks halving while the side is above 4.

Conditional batch norm and projection follow Miyato & Koyama: the generator's block norms take per-class
gains and biases (the last norm before the output stays unconditional, as in their code and BigGAN's),
and the discriminator adds <embed(y), phi(x)> to linear(phi(x)), phi(x) the pooled features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.arch import check_labels, check_num_classes


@dataclass(frozen=True)
class Layout:
    bottom: int                    # side of G's first feature map
    g_width: int
    g_factors: tuple[int, ...]     # G's widths / g_width: the bottom map's, then each up-block's output
    d_width: int
    d_factors: tuple[int, ...]     # D's widths / d_width: each block's output (the first is the optimised block)
    d_down: int                    # how many of D's first blocks halve the side


LAYOUTS = {
    8: Layout(4, 256, (1, 1), 128, (1, 1, 1, 1), 1),
    16: Layout(4, 256, (1, 1, 1), 128, (1, 1, 1, 1), 2),
    32: Layout(4, 256, (1, 1, 1, 1), 128, (1, 1, 1, 1), 2),
    48: Layout(6, 64, (8, 4, 2, 1), 64, (1, 2, 4, 8, 16), 4),
    64: Layout(4, 64, (16, 8, 4, 2, 1), 64, (1, 2, 4, 8, 16), 5),
    128: Layout(4, 64, (16, 16, 8, 4, 2, 1), 64, (1, 2, 4, 8, 16, 16), 5),
}


def layout(data_shape: Sequence[int], family: str = "ResNet") -> Layout:
    """The layout for the dataset's image side; a ValueError naming the supported sides otherwise."""
    sides = ", ".join(str(side) for side in LAYOUTS)
    if len(data_shape) != 3:
        raise ValueError(f"{family} makes images, but the dataset's samples have shape {list(data_shape)}; "
                         "use arch=mlp for vector data such as ring8 and grid25")
    _, height, width = data_shape
    if height != width or height not in LAYOUTS:
        raise ValueError(f"{family} supports square images of side {sides}; the dataset gives "
                         f"{height}x{width}: set dataset.resolution to one of those")
    return LAYOUTS[height]


def _widths(width: int | None, factors: Sequence[int] | None, default_width: int,
            default_factors: tuple[int, ...], what: str) -> list[int]:
    width = default_width if width is None else width
    factors = default_factors if factors is None else tuple(factors)
    if width < 1 or any(f < 1 for f in factors):
        raise ValueError(f"the {what}'s width and factors must be positive, got width={width}, factors={list(factors)}")
    return [width * f for f in factors]


def generator_widths(data_shape: Sequence[int], width: int | None, factors: Sequence[int] | None,
                     family: str) -> tuple[Layout, list[int]]:
    """The generator's layout and widths: its bottom map's, then each up-block's output (one per doubling)."""
    plan = layout(data_shape, family)
    widths = _widths(width, factors, plan.g_width, plan.g_factors, "generator")
    levels = round(math.log2(data_shape[-1] // plan.bottom)) + 1
    if len(widths) != levels:
        raise ValueError(f"at {data_shape[-1]}x{data_shape[-1]} the generator has {levels} levels (its "
                         f"{plan.bottom}x{plan.bottom} input map and {levels - 1} up-blocks), so factors needs "
                         f"{levels} entries, got {len(widths)}; e.g. factors=null for the standard ones")
    return plan, widths


def conv(in_channels: int, out_channels: int, kernel: int, gain: float = 1.0, bias: bool = True) -> nn.Conv2d:
    """A same-size convolution, initialised as SNGAN's code does: Xavier-uniform with `gain` (sqrt(2) on the
    residual branch, whose inputs went through a ReLU; 1 on shortcuts and output layers), zero bias (none when
    `bias` is false)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=bias)
    nn.init.xavier_uniform_(conv.weight, gain)
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


def linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """A linear layer, Xavier-uniform with zero bias (none when `bias` is false), as SNGAN's."""
    linear = nn.Linear(in_features, out_features, bias=bias)
    nn.init.xavier_uniform_(linear.weight)
    if bias:
        nn.init.zeros_(linear.bias)
    return linear


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm with a gain and a bias per class, looked up by label (de Vries et al. 2017); ordinary batch
    norm when num_classes is None. A class's gain is 1 + gain_offset[class] (BigGAN's form) and its bias
    bias[class], both offsets starting at 0: an untrained one is plain batch norm, and a weight penalty
    (orthogonal regularisation of G) pulls the gains towards 1, not towards 0.

    The per-class values are K x C parameters, not nn.Embedding modules: spectral normalisation (applied to
    every Linear, Conv and Embedding module) must leave them alone when it normalises the generator, as
    SAGAN and BigGAN do."""

    def __init__(self, channels: int, num_classes: int | None = None) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.num_classes = num_classes
        self.norm = nn.BatchNorm2d(channels, affine=num_classes is None)
        if num_classes is not None:
            self.gain_offset = nn.Parameter(torch.zeros(num_classes, channels))
            self.bias = nn.Parameter(torch.zeros(num_classes, channels))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(x)
        if self.num_classes is None:
            return h
        check_labels(y, self.num_classes)
        return h * (1 + self.gain_offset[y])[:, :, None, None] + self.bias[y][:, :, None, None]


class UpBlock(nn.Module):
    """BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus a 1x1 convolution of the upsampled input.

    `norm(channels)` makes its two batch norms, called as norm(x, y) with the block's own `y`; by default
    conditional batch norm by class label. BigGAN passes norms conditioned on a vector (biggan.py)."""

    def __init__(self, in_channels: int, out_channels: int, num_classes: int | None = None,
                 norm: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        norm = norm or (lambda channels: ConditionalBatchNorm2d(channels, num_classes))
        self.bn1 = norm(in_channels)
        self.conv1 = conv(in_channels, out_channels, 3, math.sqrt(2))
        self.bn2 = norm(out_channels)
        self.conv2 = conv(out_channels, out_channels, 3, math.sqrt(2))
        self.shortcut = conv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        # A 1x1 convolution commutes with nearest-neighbour upsampling: convolving first is 4x cheaper.
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


class DownBlock(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3, then 2x2 average pooling if `downsample`; the shortcut is a 1x1 convolution
    (pooled alike) where the width or the side changes, else the identity."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = conv(in_channels, out_channels, 3, math.sqrt(2))
        self.conv2 = conv(out_channels, out_channels, 3, math.sqrt(2))
        self.shortcut = conv(in_channels, out_channels, 1) if downsample or in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        shortcut = x
        if self.downsample:
            h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        # Average pooling and a 1x1 convolution commute; pooling first is 4x cheaper.
        return h + (self.shortcut(shortcut) if self.shortcut is not None else shortcut)


class OptimisedBlock(nn.Module):
    """D's first block: conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool-conv1x1. No ReLU on the raw image."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv(in_channels, out_channels, 3, math.sqrt(2))
        self.conv2 = conv(out_channels, out_channels, 3, math.sqrt(2))
        self.shortcut = conv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class Generator(nn.Module):
    """z (and a label) -> image. `maps` lists (side, channels) of the feature map after the input layer and
    after each block, where SAGAN places attention."""

    family = "ResNet"  # names the architecture in error messages

    def __init__(self, z_dim: int, data_shape: Sequence[int], width: int | None = None,
                 factors: Sequence[int] | None = None, num_classes: int | None = None) -> None:
        super().__init__()
        check_num_classes(num_classes)
        plan, widths = generator_widths(data_shape, width, factors, self.family)
        self.num_classes, self.bottom = num_classes, plan.bottom
        self.input = linear(z_dim, widths[0] * plan.bottom**2)
        self.blocks = nn.ModuleList(UpBlock(w_in, w_out, num_classes) for w_in, w_out in zip(widths, widths[1:]))
        self.maps = [(plan.bottom * 2**level, w) for level, w in enumerate(widths)]
        self.output_norm = nn.BatchNorm2d(widths[-1])
        self.output = conv(widths[-1], data_shape[0], 3)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        h = self.input(z).view(z.shape[0], -1, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.output(F.relu(self.output_norm(h))))


class Discriminator(nn.Module):
    """Image (and a label) -> score: linear(phi(x)) (+ <embed(y), phi(x)> when conditional), phi(x) the
    features after the blocks, ReLU and a sum over positions. `maps` lists (side, channels) of the feature
    map after each block.

    `output_bias`: whether that last linear layer has a bias (true: as before). The official code of SNGAN's
    CIFAR-10 D has none (pfnet-research/sngan_projection dis_models/snresnet_32.py: `SNLinear(ch, 1,
    nobias=True)`); its ImageNet projection discriminator has one (snresnet.py: `SNLinear(ch * 16, 1)`)."""

    family = "ResNet"

    def __init__(self, data_shape: Sequence[int], width: int | None = None, factors: Sequence[int] | None = None,
                 num_classes: int | None = None, output_bias: bool = True) -> None:
        super().__init__()
        check_num_classes(num_classes)
        if not isinstance(output_bias, bool):
            raise ValueError(f"output_bias must be true or false (whether the last linear layer has a bias), "
                             f"got {output_bias!r}")
        plan = layout(data_shape, self.family)
        widths = _widths(width, factors, plan.d_width, plan.d_factors, "discriminator")
        if len(widths) < plan.d_down:
            raise ValueError(f"at {data_shape[-1]}x{data_shape[-1]} the discriminator halves the side in its first "
                             f"{plan.d_down} blocks, so factors needs at least {plan.d_down} entries, got "
                             f"{len(widths)}; e.g. factors=null for the standard ones")
        self.num_classes = num_classes
        blocks: list[nn.Module] = [OptimisedBlock(data_shape[0], widths[0])]
        blocks += [DownBlock(w_in, w_out, downsample=i < plan.d_down)
                   for i, (w_in, w_out) in enumerate(zip(widths, widths[1:]), start=1)]
        self.blocks = nn.ModuleList(blocks)
        self.maps = [(data_shape[-1] >> min(i + 1, plan.d_down), w) for i, w in enumerate(widths)]
        self.linear = linear(widths[-1], 1, bias=output_bias)
        if num_classes is not None:
            self.embed = nn.Embedding(num_classes, widths[-1])
            nn.init.xavier_uniform_(self.embed.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): the last block's output after ReLU, summed over positions (N x channels)."""
        h = x
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum((2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        phi = self.features(x)
        score = self.linear(phi).squeeze(1)
        if self.num_classes is not None:  # the projection term
            score = score + (self.embed(y) * phi).sum(1)
        return score
