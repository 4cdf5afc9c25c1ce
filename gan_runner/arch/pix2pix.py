"""pix2pix (Isola et al. 2017): a U-Net generator with skips and the 70x70 PatchGAN, as the authors' PyTorch port
builds them (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py: UnetGenerator, UnetSkipConnectionBlock,
NLayerDiscriminator, init_weights), with batch norm (--norm batch, as the pix2pix model sets it).

Generator (UnetGenerator with UnetSkipConnectionBlock): `num_downs` levels, each a 4x4 stride-2 convolution down and
a 4x4 stride-2 transposed convolution up; level d (1 the outermost) has width * min(2**(d-1), 8) channels inside
(ngf 64: 64-128-256-512-512-...). Down: LeakyReLU(0.2), convolution, batch norm (none at the outermost, which
takes the source, nor at the innermost, whose map is 1x1); up: ReLU, transposed convolution, batch norm (Tanh at the
outermost instead); each level but the outermost concatenates its input (the skip) to its output. No convolution
has a bias (use_bias is False with batch norm) but the outermost transposed convolution.
The skip carries the encoder's features after the next level's LeakyReLU: the reference's in-place
LeakyReLU(0.2, True) changes the tensor that torch.cat([x, self.model(x)], 1) then reads (so does the Lua
original, phillipi/pix2pix models.lua defineG_unet: `e7 - nn.LeakyReLU(0.2, true)` before `{d1_, e7} -
nn.JoinTable(2)`); here the activation is applied explicitly before both.
At 256x256 RGB (num_downs 8, define_G 'unet_256') it has 54,413,955 parameters, the port's "[Network G] Total number
of parameters : 54.414 M" (BaseModel.print_networks) for pix2pix on facades.

Dropout 0.5 follows the decoder's batch norm in the `dropout_blocks` levels just outside the innermost: 3 at
num_downs 8, the reference's `num_downs - 5` middle blocks (UnetGenerator: `for i in range(num_downs - 5): ...
use_dropout=use_dropout`). The Lua original puts them one level deeper (d1_, d2_, d3_ of defineG_unet: the innermost
up-convolution and the next two); we follow the port, whose parameter counts we check. It is pix2pix's only noise
(the paper, section 3.1: "we provide noise only in the form of dropout, applied on several layers of our generator at
both training and test time"): with `dropout_at_sampling` true it stays active in eval() mode (test.lua has
`--netG:evaluate()` commented out; the port's test.py calls model.eval() only with --eval), false is ordinary dropout.
dropout 0 is the port's --no_dropout.

Small images (the 28x28 digits): the reference needs sides divisible by 2**num_downs (256 with 8). `num_downs` null
takes ceil(log2(shorter side)), the reference's choice of a 1x1 bottleneck (8 at 256, 7 at 128 'unet_128', 5 at
28); the source is padded by reflection (no artificial border, unlike zeros, which are mid-grey in [-1, 1]) to the
next multiple of 2**num_downs on each side, half before and half after, and the output cropped back to data_shape.
Below num_downs 5 the widths continue the same rule (the reference has at least five levels). At num_downs 5 the
reference's rule would leave no dropout at all; dropout_blocks keeps three (levels 2-4), so the noise exists; it is
at most num_downs - 2 (the levels between the outermost and the innermost).

Discriminator (NLayerDiscriminator, netD 'basic' = n_layers 3, the 70x70 PatchGAN): 4x4 convolutions with padding
1, width-2*width-4*width at stride 2 then 8*width at stride 1 (min(2**n, 8) times the width), LeakyReLU(0.2), batch
norm after all but the first (which has a bias; the others none), and a last 4x4 stride-1 convolution to a 1-channel
map of raw scores (no sigmoid: the objectives take logits). At 256x256 the map is 30x30; at 28x28 it is 1x1 (each
score sees the whole digit; n_layers 1 makes patches of 16x16, a 12x12 map). Built with a source_shape it judges
the pair, source and image concatenated on channels (define_D(input_nc + output_nc, ...)): 2,768,705 parameters for
RGB pairs, the port's "[Network D] Total number of parameters : 2.769 M". `norm: instance` is CycleGAN's (--norm
instance, the port's default): instance norm without affine parameters or running statistics, and then the
convolutions before it keep their biases, as the port's use_bias does (2,764,737 parameters judging RGB images alone,
the port's "2.765 M"; tests/test_arch_cyclegan.py).
Both networks start from init_weights 'normal' with gain 0.02 (gan_runner.arch.normal_init).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.arch import PairedDiscriminator, image_shape, normal_init


# The port's get_norm_layer: batch norm (affine, running statistics; pix2pix) or instance norm (no affine parameters, no
# running statistics; CycleGAN). The port gives a convolution before instance norm a bias (use_bias) and one before
# batch norm none; instance norm subtracts each channel's mean, so that bias changes no output either, but it is among
# the port's parameters.
NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "instance": functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False),
}


def norm_layer(norm: str) -> tuple[Callable[[int], nn.Module], bool]:
    """The normalisation a network's `norm` option names, and whether the convolution before it has a bias."""
    if norm not in NORMS:
        raise ValueError(f"norm must be 'batch' or 'instance' (the port's --norm), got {norm!r}")
    return NORMS[norm], norm == "instance"


class SamplingDropout(nn.Dropout):
    """Dropout that also drops in eval() mode: pix2pix's noise, kept at sampling (test.lua never calls
    netG:evaluate()). Its state_dict is nn.Dropout's (none), so a checkpoint loads with either kind."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True, inplace=self.inplace)


class SkipBlock(nn.Module):
    """One level of the U (UnetSkipConnectionBlock): down, the inner levels, up; the output of every level but the
    outermost is [its input after LeakyReLU, the up path's output] on channels."""

    def __init__(self, outer: int, inner: int, inner_block: "SkipBlock | None", input_channels: int | None = None,
                 dropout: nn.Module | None = None) -> None:
        super().__init__()
        self.outermost = input_channels is not None
        innermost = inner_block is None
        down: list[nn.Module] = [nn.Conv2d(input_channels or outer, inner, 4, 2, 1, bias=False)]
        if not (self.outermost or innermost):
            down.append(nn.BatchNorm2d(inner))
        up_in = inner if innermost else 2 * inner  # the inner level's output carries its skip
        if self.outermost:
            up: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(up_in, outer, 4, 2, 1), nn.Tanh()]
        else:
            up = [nn.ReLU(), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
        up += [dropout] if dropout is not None else []
        self.model = nn.Sequential(*down, *([inner_block] if inner_block is not None else []), *up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        x = F.leaky_relu(x, 0.2)  # the reference's in-place downrelu: the skip carries the activated features
        return torch.cat([x, self.model(x)], 1)


class Generator(nn.Module):
    num_classes = None  # translates a source image; draws no labels (gan-sample reads this)

    def __init__(self, data_shape: Sequence[int], source_shape: Sequence[int], width: int = 64,
                 num_downs: int | None = None, dropout: float = 0.5, dropout_blocks: int = 3,
                 dropout_at_sampling: bool = True) -> None:
        super().__init__()
        self.data_shape = image_shape(data_shape, "target (data_shape)")
        self.source_shape = image_shape(source_shape, "source (source_shape)")
        (channels, height, width_px), (source_channels, *source_sides) = self.data_shape, self.source_shape
        if tuple(source_sides) != (height, width_px):
            raise ValueError(f"pix2pix's U-Net makes an image of its source's size, but the source is "
                             f"{source_sides[0]}x{source_sides[1]} and the target {height}x{width_px}; for "
                             "super-resolution use arch=srgan")
        shorter = min(height, width_px)
        if num_downs is None:
            num_downs = max(2, math.ceil(math.log2(shorter)))
        if isinstance(num_downs, bool) or not isinstance(num_downs, int) or num_downs < 2:
            raise ValueError(f"num_downs must be a whole number of at least 2 (or null: from the image size), "
                             f"got {num_downs!r}")
        multiple = 2 ** num_downs
        self.padding = [(-side % multiple) // 2 for side in (width_px, height)]  # before; the rest after
        pads = (self.padding[0], -width_px % multiple - self.padding[0],
                self.padding[1], -height % multiple - self.padding[1])
        if max(pads) >= shorter:
            raise ValueError(f"num_downs={num_downs} needs sides that are multiples of {multiple}; padding a "
                             f"{height}x{width_px} image that far by reflection is not possible: use a smaller "
                             f"num_downs (null chooses ceil(log2(shorter side)) = {math.ceil(math.log2(shorter))})")
        self.pads = pads
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout!r}")
        if isinstance(dropout_blocks, bool) or not isinstance(dropout_blocks, int) or dropout_blocks < 0:
            raise ValueError(f"dropout_blocks must be a whole number of at least 0, got {dropout_blocks!r}")
        dropout_kind = SamplingDropout if dropout_at_sampling else nn.Dropout
        dropped = range(num_downs - min(dropout_blocks, num_downs - 2), num_downs) if dropout > 0 else range(0)

        def inner_width(level: int) -> int:  # level 1 is the outermost
            return width * min(2 ** (level - 1), 8)

        block = None
        for level in range(num_downs, 1, -1):
            block = SkipBlock(inner_width(level - 1), inner_width(level), block,
                              dropout=dropout_kind(dropout) if level in dropped else None)
        self.model = SkipBlock(channels, width, block, input_channels=source_channels)
        self.apply(normal_init)

    def forward(self, source: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        padded = F.pad(source, self.pads, mode="reflect") if any(self.pads) else source
        out = self.model(padded)
        _, height, width = self.data_shape
        return out[..., self.padding[1]:self.padding[1] + height, self.padding[0]:self.padding[0] + width]


class Discriminator(PairedDiscriminator):
    def __init__(self, data_shape: Sequence[int], source_shape: Sequence[int] | None = None, width: int = 64,
                 n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__(data_shape, source_shape)
        normalisation, bias = norm_layer(norm)
        height, width_px = self.data_shape[1:]
        inputs = self.input_channels
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be a whole number of at least 1 (3: the 70x70 PatchGAN), "
                             f"got {n_layers!r}")
        # 4x4 convolutions with padding 1: stride 2 halves a side (rounding down), stride 1 shortens it by one.
        sides = [(side // 2 ** n_layers) - 2 for side in (height, width_px)]
        if min(sides) < 1:
            raise ValueError(f"a PatchGAN of n_layers={n_layers} leaves no score on a {height}x{width_px} image; "
                             f"use fewer layers (arch.discriminator.n_layers)")
        layers: list[nn.Module] = [nn.Conv2d(inputs, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        widths = [width * min(2 ** n, 8) for n in range(n_layers + 1)]
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(widths[n - 1], widths[n], 4, stride, 1, bias=bias), normalisation(widths[n]),
                       nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)
        self.apply(normal_init)

    def forward(self, image: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(self.judged(image, source))
