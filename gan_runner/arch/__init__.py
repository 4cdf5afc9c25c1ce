"""Architectures: one file per family, each with a Generator and a Discriminator.

Contract: `Generator(z[N, z_dim], y=None) -> x` shaped like the data (images in [-1, 1]) and
`Discriminator(x, y=None) -> scores[N]`, raw scores where higher means "more real". `y` is the class
label for conditional models; unconditional models accept and ignore it.

Class-conditional models are built with `num_classes=K` (train.py passes the dataset's number of classes
when `conditional: true`, else None); they need `y` (N integer labels in [0, K)) on every call, and raise
a ValueError without it rather than silently forget the class. Every network keeps `num_classes` as an
attribute, so that code holding only the module (gan-sample) knows whether to draw labels.

Paired games (game=paired: pix2pix.py, srgan.py) translate an image instead: `Generator(data_shape=(C, H, W),
source_shape=(c, h, w), ...)` with `forward(source, labels=None) -> image` in [-1, 1] shaped data_shape, and
`Discriminator(data_shape, source_shape=None, ...)` with `forward(image, source=None) -> scores`, (N,) or a
PatchGAN's (N, 1, h', w') map. A discriminator built with a source_shape judges the pair (`with_source`); with None
it judges the image alone. Their conf/arch YAML files say `game: paired`.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def check_labels(y: torch.Tensor | None, num_classes: int | None) -> None:
    """Refuses a call without labels to a class-conditional network (num_classes not None)."""
    if num_classes is not None and y is None:
        raise ValueError(f"this network is class-conditional ({num_classes} classes) and needs the labels y "
                         "of its inputs; pass y (N integers in [0, num_classes)), or build it with num_classes=None")


def check_num_classes(num_classes: int | None) -> None:
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise ValueError(f"num_classes must be a positive whole number (or None: unconditional), got {num_classes!r}")


def normal_init(module: nn.Module) -> None:
    """DCGAN's initialisation, which pix2pix keeps (junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py
    init_weights, init_type 'normal', gain 0.02): weights of convolutions and linear layers N(0, 0.02) and their
    biases 0; batch norm's gains N(1, 0.02) and biases 0. For `module.apply`."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def image_shape(shape, what: str) -> tuple[int, int, int]:
    """A (C, H, W) shape as a tuple of ints, or a ValueError naming `what` it is (paired networks make images)."""
    if shape is None or len(shape) != 3:
        raise ValueError(f"the {what} must be an image shape (channels, height, width), got {shape!r}; "
                         "the paired networks translate images, not vectors")
    return tuple(int(side) for side in shape)


def with_source(image: torch.Tensor, source: torch.Tensor | None,
                source_shape: tuple[int, int, int] | None) -> torch.Tensor:
    """What a paired discriminator sees: the image alone (source_shape None: any source given is not looked at), or
    the source and the image concatenated on channels, the source first as pix2pix's discriminator sees the pair
    (pix2pix_model.py backward_D: torch.cat((self.real_A, self.fake_B), 1)). A source smaller than the image (super-
    resolution) is first enlarged to the image's size by repeating its pixels (nearest), which adds no values."""
    if source_shape is None:
        return image
    if source is None:
        raise ValueError("this discriminator judges (source, image) pairs (it was built with a source_shape) and "
                         "needs the source of each image; pass source=, or build it with source_shape=None")
    if source.shape[-2:] != image.shape[-2:]:
        source = F.interpolate(source, size=image.shape[-2:], mode="nearest")
    return torch.cat([source, image], 1)


class PairedDiscriminator(nn.Module):
    """What every paired discriminator shares: the image's shape and the source's (None: it judges the image alone),
    the channels it takes in (the image's, plus the source's when it judges the pair) and what it is shown
    (`with_source`). Its subclasses build their layers on these."""

    num_classes = None

    def __init__(self, data_shape: Sequence[int], source_shape: Sequence[int] | None) -> None:
        super().__init__()
        self.data_shape = image_shape(data_shape, "image (data_shape)")
        self.source_shape = None if source_shape is None else image_shape(source_shape, "source (source_shape)")

    @property
    def input_channels(self) -> int:
        return self.data_shape[0] + (self.source_shape[0] if self.source_shape is not None else 0)

    def judged(self, image: torch.Tensor, source: torch.Tensor | None) -> torch.Tensor:
        return with_source(image, source, self.source_shape)
