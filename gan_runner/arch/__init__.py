"""Architectures: one file per family, each with a Generator and a Discriminator.

Contract: `Generator(z[N, z_dim], y=None) -> x` shaped like the data (images in [-1, 1]) and
`Discriminator(x, y=None) -> scores[N]`, raw scores where higher means "more real". `y` is the class
label for conditional models; unconditional models accept and ignore it.

Class-conditional models are built with `num_classes=K` (train.py passes the dataset's number of classes
when `conditional: true`, else None); they need `y` (N integer labels in [0, K)) on every call, and raise
a ValueError without it rather than silently forget the class. Every network keeps `num_classes` as an
attribute, so that code holding only the module (gan-sample) knows whether to draw labels.
"""

from __future__ import annotations

import torch
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
