"""DCGAN (Radford et al. 2016).

Generator: a 4x4 transposed convolution from z, then stride-2 transposed convolutions that double the
resolution and halve the width, batch norm and ReLU between them, tanh at the output.
Discriminator: the mirror image with strided convolutions and LeakyReLU(0.2), no normalisation after
the first layer, and a final 4x4 convolution to one score. Weights start from N(0, 0.02) as in the paper.
D's normalisation (`norm`) is batch norm as in the paper, or, for a critic trained with a gradient
penalty, one that treats each sample on its own: batch norm makes D's gradient at one sample depend on the
rest of the batch, so the penalty would not be the published one; WGAN-GP (Gulrajani et al. 2017, section 4)
recommends layer normalisation ("layer": over each sample's C x H x W, with a gain and a bias per channel)
and names instance normalisation as an alternative ("instance"); "none" uses no normalisation.
At resolution 32 with width 64 the generator's widths are 256-128-64 and the discriminator's 64-128-256.
`bias` (G and D) puts a bias in the convolutions that no normalisation follows (G's last; D's first and last,
and its inner ones with norm "none"); the others never have one, as a normalisation's own bias replaces it.
True (the default) is the networks of earlier versions, whose checkpoints load; False is pytorch/examples'
dcgan/main.py, which has no bias in any convolution (at 64x64, 3 channels, width 64: G 3,576,704 and D
2,765,568 parameters).

Class-conditional (num_classes set), as in the conditional DCGANs that followed Mirza & Osindero 2014: G
concatenates a learned label embedding of `embed_dim` to z; D receives the embedding broadcast over the
image as `embed_dim` extra input channels, so its first layer already sees the class beside the pixels.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence, Union

import torch
from torch import nn

from gan_runner.arch import check_labels, check_num_classes, normal_init


def _widths(data_shape: Sequence[int], width: int) -> list[int]:
    """Channel widths from the coarsest level to the finest, for a square power-of-two image."""
    if len(data_shape) != 3:
        raise ValueError(
            f"DCGAN makes images, but the dataset's samples have shape {list(data_shape)}; "
            "use arch=mlp for vector data such as ring8 and grid25"
        )
    _, height, width_px = data_shape
    levels = math.log2(height) - 2 if height == width_px else -1
    if levels < 1 or not levels.is_integer():
        raise ValueError(
            f"DCGAN needs a square image whose side is a power of two, at least 8 (8, 16, 32, 64, 128); "
            f"the dataset gives {height}x{width_px}: set dataset.resolution to one of those"
        )
    return [width * 2 ** (int(levels) - 1 - i) for i in range(int(levels))]


Norm = Callable[[int], nn.Module]
NORMS: dict[str, Norm | None] = {
    "batch": nn.BatchNorm2d,
    "layer": lambda channels: nn.GroupNorm(1, channels),
    "instance": lambda channels: nn.InstanceNorm2d(channels, affine=True),
    "none": None,
}


def _norm(norm: Union[str, Norm, None]) -> Norm | None:
    """A name of NORMS, None (no normalisation), or a module factory of your own (channels -> module)."""
    if norm is None or callable(norm):
        return norm
    if norm not in NORMS:
        raise ValueError(f"the DCGAN discriminator's norm must be one of {', '.join(NORMS)}, got {norm!r}; "
                         "e.g. arch.discriminator.norm=layer with a gradient penalty")
    return NORMS[norm]


class Generator(nn.Module):
    def __init__(self, z_dim: int, data_shape: Sequence[int], width: int = 64, num_classes: int | None = None,
                 embed_dim: int = 16, bias: bool = True) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.num_classes = num_classes
        widths = _widths(data_shape, width)
        inputs = z_dim + (embed_dim if num_classes is not None else 0)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(inputs, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], data_shape[0], 4, 2, 1, bias=bias), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(normal_init)
        if num_classes is not None:  # after the weights' initialisation: N(0, 1), like a random code
            self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        if self.num_classes is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    def __init__(
        self,
        data_shape: Sequence[int],
        width: int = 64,
        norm: Union[str, Norm, None] = "batch",
        num_classes: int | None = None,
        embed_dim: int = 16,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.num_classes = num_classes
        norm = _norm(norm)
        widths = _widths(data_shape, width)[::-1]
        inputs = data_shape[0] + (embed_dim if num_classes is not None else 0)
        layers: list[nn.Module] = [nn.Conv2d(inputs, widths[0], 4, 2, 1, bias=bias), nn.LeakyReLU(0.2, True)]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(w_in, w_out, 4, 2, 1, bias=bias and norm is None)]
            layers += [norm(w_out)] if norm is not None else []
            layers += [nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=bias))
        self.net = nn.Sequential(*layers)
        self.apply(normal_init)
        if num_classes is not None:
            self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        if self.num_classes is not None:
            x = torch.cat([x, self.embed(y)[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.net(x).flatten()
