"""Datasets: one file per family. Each dataset is an object with

- `shape`: the shape of one sample (C x H x W for images, (2,) for the 2-D mixtures),
- `num_classes`: the number of labels, or None when it has none,
- `batches(batch_size, generator, start=0, device=None)`: an endless iterator of (x, y) batches drawn with
  `generator` (y is None without labels), images as float tensors in [-1, 1], beginning with batch number
  `start` of that order, which a resumed run reaches without building the batches before it. With a CUDA
  `device`, a dataset may make its batches there (the loop moves any that are not, without waiting).
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

Samples = tuple[torch.Tensor, "torch.Tensor | None"]  # a batch of data and its labels (None without)


class ImageTensorDataset:
    """Images held in memory as uint8 (N x C x H x W), served as floats in [-1, 1], reshuffled each epoch."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, num_classes: int | None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError(f"expected uint8 images of shape N x C x H x W, got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.labels = labels
        self.num_classes = num_classes
        self.shape = tuple(images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def on(self, device: torch.device | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The images and labels where batches are made: on a CUDA device when the uint8 images take at most a
        quarter of its free memory (indexed there, nothing crosses the bus but the epoch's order), else here."""
        if device is None or device.type != "cuda":
            return self.images, self.labels
        free, _ = torch.cuda.mem_get_info(device)
        if self.images.numel() > free / 4:
            return self.images, self.labels
        if getattr(self, "_on_device", (None,))[0] != device:
            labels = self.labels.to(device) if self.labels is not None else None
            self._on_device = (device, self.images.to(device), labels)
        return self._on_device[1:]

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None) -> Iterator[Samples]:
        if batch_size > len(self):
            raise ValueError(f"batch size {batch_size} is larger than the dataset ({len(self)} images)")
        images, labels = self.on(device)
        # Each epoch is one permutation; the last incomplete batch is dropped so every batch has the same size.
        per_epoch = len(self) // batch_size
        for _ in range(start // per_epoch):  # skipped epochs: their permutations only, no images
            torch.randperm(len(self), generator=generator)
        skip = start % per_epoch
        while True:
            order = torch.randperm(len(self), generator=generator)
            if images.is_cuda:
                order = order.pin_memory().to(images.device, non_blocking=True)
            for first in range(skip * batch_size, per_epoch * batch_size, batch_size):
                index = order[first : first + batch_size]
                x = images[index].float() / 127.5 - 1.0
                yield x, (labels[index] if labels is not None else None)
            skip = 0


def to_uint8_images(images: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """Float images in [0, 1] (N x C x H x W) -> uint8 at `resolution`, centre-cropped, `channels` channels.

    The shorter side is resized to `resolution` (bilinear, antialiased when shrinking), then the centre
    square is cut out. One channel becomes three by repetition; three become one by ITU-R 601 luma.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if images.shape[1] == 3 and channels == 1:
        images = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif images.shape[1] == 1 and channels == 3:
        images = images.repeat(1, 3, 1, 1)
    height, width = images.shape[-2:]
    scale = resolution / min(height, width)
    size = (max(resolution, round(height * scale)), max(resolution, round(width * scale)))
    if size != (height, width):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    images = images[:, :, top : top + resolution, left : left + resolution]
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)
