"""DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): the
same random, differentiable transforms on every image D sees in training, real and fake, in both updates. The
official functions (mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py l.22-76), formula for formula and
in the same order of random draws, so that on one process and one seed they give the official numbers (tested:
tests/test_augment.py). Images are in [-1, 1], as in the official code.

- color: brightness + U(-0.5, 0.5) (l.22-24), saturation: the deviation from the channels' mean times U(0, 2)
  (l.27-30), contrast: the deviation from the image's mean times U(0.5, 1.5) (l.33-36); one draw per image each;
- translation: by whole pixels, up to 1/8 of the side each way (int(side * 1/8 + 0.5)), zeros shifted in (l.39-52);
- cutout: a square of half the side (int(side / 2 + 0.5)) set to 0 at a uniform position, clipped at the borders
  (l.55-69).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from gan_runner.augment import Augmentation, draw


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (draw(lambda s, device: torch.rand(s, dtype=x.dtype, device=device), (len(x), 1, 1, 1), x.device)
                - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    factor = draw(lambda s, device: torch.rand(s, dtype=x.dtype, device=device), (len(x), 1, 1, 1), x.device) * 2
    return (x - mean) * factor + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    factor = draw(lambda s, device: torch.rand(s, dtype=x.dtype, device=device), (len(x), 1, 1, 1), x.device) + 0.5
    return (x - mean) * factor + mean


def _randint(low: int, high: int, n: int, device: torch.device) -> torch.Tensor:
    return draw(lambda s, device: torch.randint(low, high, size=s, device=device), (n, 1, 1), device)


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = _randint(-shift_x, shift_x + 1, len(x), x.device)
    translation_y = _randint(-shift_y, shift_y + 1, len(x), x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(x.size(2), dtype=torch.long, device=x.device),
        torch.arange(x.size(3), dtype=torch.long, device=x.device), indexing="ij")
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])  # one ring of zeros: every shift past the border reads it
    return padded.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = _randint(0, x.size(2) + (1 - size[0] % 2), len(x), x.device)
    offset_y = _randint(0, x.size(3) + (1 - size[1] % 2), len(x), x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(size[0], dtype=torch.long, device=x.device),
        torch.arange(size[1], dtype=torch.long, device=x.device), indexing="ij")
    grid_x = torch.clamp(grid_x + offset_x - size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


# The policy's words, as the official AUGMENT_FNS (l.72-76) names them.
TRANSFORMS: dict[str, list[Callable[[torch.Tensor], torch.Tensor]]] = {
    "color": [brightness, saturation, contrast], "translation": [translation], "cutout": [cutout]}


class DiffAugment(Augmentation):
    """augment=diffaugment: the transforms of `policy` (comma-separated words of TRANSFORMS, applied in its order, as
    the official DiffAugment(x, policy)), on every image D sees in training, each with probability 1."""

    name = "diffaugment"

    def __init__(self, policy: str = "color,translation,cutout") -> None:
        super().__init__()
        words = [word.strip() for word in policy.split(",") if word.strip()]
        unknown = [word for word in words if word not in TRANSFORMS]
        if unknown or not words:
            raise ValueError(f"policy {policy!r} names {', '.join(unknown) or 'no transform'}: its words are "
                             f"{', '.join(TRANSFORMS)} (e.g. augment.policy=color,translation,cutout)")
        self.policy = policy
        self.transforms = [transform for word in words for transform in TRANSFORMS[word]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            x = transform(x)
        return x.contiguous()
