"""Augmentation of what the discriminator sees in training, for small datasets (conf/augment/: none, diffaugment, ada).

Both methods (DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020a) augment every image D sees in training, real
and fake alike, in D's update and in G's, and the points of D's penalties: the step calls D through `wrap(D)`, a
module whose forward is D(augment(x), y), so G's gradient and a penalty's input gradient (R1) flow through the
augmentation back to the image before it, as the official code's R1 does (stylegan2-ada-pytorch training/loss.py
l.111-124: the gradient is taken with respect to the un-augmented real image). Evaluation, pictures and health see
D itself, never augmented. Every transform is differentiable with respect to the image.

An augmentation is an nn.Module (its buffers, ADA's p, are the training state's `augment` part, checkpointed) with

- `forward(x) -> x`: the augmented batch (training only: the step calls it),
- `wrap(D)`: D as the training step calls it (`none`: D itself, so nothing changes),
- `observe(real_scores) -> stats`: after each D update, D's scores of the (augmented) real images; ADA steers its
  probability p with them; returns statistics for the log row (aug/p, aug/rt), device tensors, no host read,
- `check(shape, paired)`: refuses, before anything is built, data it cannot augment (2-D points; a paired game's
  images, whose condition would need the same geometric transform: refused rather than half done).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan_runner import distributed
from gan_runner.errors import UserError


def draw(sample: Any, shape: tuple, device: torch.device) -> torch.Tensor:
    """`sample(shape, device=device)` (torch.rand, torch.randn, ...) for this process's samples: on several
    processes each process's slice of the global batch's draws, so its images get transforms of their own."""
    return distributed.per_sample(sample, shape, device=device)


class NoAugment(nn.Module):
    """augment=none: D sees the images as they are (the default)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def wrap(self, D: nn.Module) -> nn.Module:
        return D

    def observe(self, real_scores: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def check(self, shape: tuple, paired: bool) -> None:
        """Raises UserError when this augmentation cannot augment samples of `shape` (a paired game's: `paired`)."""


class Augmentation(NoAugment):
    """What the augmentations share: D wrapped, the refusals of data that is not a batch of single images."""

    name = "augmentation"

    def wrap(self, D: nn.Module) -> nn.Module:
        return AugmentedD(D, self)

    def check(self, shape: tuple, paired: bool) -> None:
        if len(shape) != 3:
            raise UserError(f"augment={self.name} augments images (channels, height, width), and this dataset's "
                            f"samples have shape {tuple(shape)}. Fix: augment=none for 2-D and 1-D data.")
        if paired:
            raise UserError(f"augment={self.name} with a paired game (pix2pix, SRGAN): D judges an image against "
                            "its source, and a geometric transform of the image alone would break their "
                            "correspondence (augmenting both alike is not built). Fix: augment=none.")


class AugmentedD(nn.Module):
    """D as training sees it: D(augment(x), y). Its parameters are D's; a compiled D's eager module is
    `_orig_mod` here too (the penalties' double backward runs eager: gan_runner.engine.step.StepCritic)."""

    def __init__(self, D: nn.Module, augment: nn.Module) -> None:
        super().__init__()
        self.D, self.augment = D, augment

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.D(self.augment(x), y)

    @property
    def _orig_mod(self) -> nn.Module:
        inner = self.D.__dict__.get("_modules", {}).get("_orig_mod")
        if inner is None:
            raise AttributeError("_orig_mod")
        return AugmentedD(inner, self.augment)
