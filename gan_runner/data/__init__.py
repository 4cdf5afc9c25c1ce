"""Datasets: one file per family. Each dataset is an object with

- `shape`: the shape of one sample (C x H x W for images, (2,) for the 2-D mixtures),
- `num_classes`: the number of labels, or None when it has none,
- `batches(batch_size, generator, start=0, device=None)`: an endless iterator of (x, y) batches drawn with
  `generator` (y is None without labels), images as float tensors in [-1, 1], beginning with batch number
  `start` of that order, which a resumed run reaches without building the batches before it. With a CUDA
  `device`, a dataset may make its batches there (the loop moves any that are not, without waiting).

A dataset whose `reads_its_share` is true also takes `rows=(start, stop)`: it then yields only those rows of each
global batch (under torchrun, each process's share), reading nothing of the others' images; the engine slices the
global batches of any other dataset.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
import torch.nn.functional as F

Samples = tuple[torch.Tensor, "torch.Tensor | None"]  # a batch of data and its labels (None without)


# A memory-mapped dataset (a prepared copy) is copied whole to a CUDA device only up to this size: a bigger copy
# would read the whole file at every start, which the prepared format exists to avoid.
MAPPED_ON_DEVICE_BYTES = 256 << 20


class ImageTensorDataset:
    """Images held as uint8 (N x C x H x W; in memory, or a memory map of a prepared copy and its `reader`), served as floats in
    [-1, 1], reshuffled each epoch; with `mirror`, each drawn image is flipped left-right with probability 1/2
    (stylegan2's --mirror doubles the data the same way), the flips drawn with the epoch's order."""

    reads_its_share = True  # batches() takes rows=(start, stop): see the module's docstring

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, num_classes: int | None,
                 mirror: bool = False, reader: Any = None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError(f"expected uint8 images of shape N x C x H x W, got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.labels = labels
        self.num_classes = num_classes
        self.shape = tuple(images.shape[1:])
        self.mirror = mirror
        # A prepared copy's images are a memory map, read by batches through `reader` (reader[index] -> uint8 rows,
        # prepared.RowReader), which reads the rows' bytes without mapping them.
        self.reader = reader
        self.memory_mapped = reader is not None

    def __len__(self) -> int:
        return self.images.shape[0]

    def fits_on_device(self, free_bytes: int) -> bool:
        """Whether the uint8 images are copied whole to a CUDA device with `free_bytes` free: when they take at most a
        quarter of it, and, memory-mapped, at most MAPPED_ON_DEVICE_BYTES."""
        limit = min(free_bytes / 4, MAPPED_ON_DEVICE_BYTES) if self.memory_mapped else free_bytes / 4
        return self.images.numel() <= limit

    def on(self, device: torch.device | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The images and labels where batches are gathered: on a CUDA device when they fit there (fits_on_device:
        indexed there, nothing crosses the bus but the epoch's order), else here (each batch is then gathered
        here and copied from pinned memory without waiting)."""
        if device is None or device.type != "cuda" or not self.fits_on_device(torch.cuda.mem_get_info(device)[0]):
            return self.images, self.labels
        if getattr(self, "_on_device", (None,))[0] != device:
            labels = self.labels.to(device) if self.labels is not None else None
            self._on_device = (device, self.images.to(device), labels)
        return self._on_device[1:]

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None, rows: tuple[int, int] | None = None) -> Iterator[Samples]:
        if batch_size > len(self):
            raise ValueError(f"batch size {batch_size} is larger than the dataset ({len(self)} images)")
        images, labels = self.on(device)
        copy_to = device if device is not None and device.type == "cuda" and not images.is_cuda else None
        first_row, last_row = rows or (0, batch_size)
        # Each epoch is one permutation of `generator` (and, mirrored, flips of a generator of its own, so the order
        # is the same with and without); the last incomplete batch is dropped so every batch has the same size.
        per_epoch = len(self) // batch_size
        for _ in range(start // per_epoch):  # skipped epochs: their permutations only, no images
            torch.randperm(len(self), generator=generator)
        epoch, skip = start // per_epoch, start % per_epoch
        while True:
            order, flips = torch.randperm(len(self), generator=generator), self.flips(generator.initial_seed(), epoch)
            if images.is_cuda:
                order = order.pin_memory().to(images.device, non_blocking=True)
            if flips is not None and (images.is_cuda or copy_to is not None):  # flipped where the batch is made
                flips = flips.pin_memory().to(copy_to or images.device, non_blocking=True)
            for first in range(skip * batch_size, per_epoch * batch_size, batch_size):
                mine = slice(first + first_row, first + last_row)  # this process's rows of the global batch
                index = order[mine]
                x = self.reader[index] if self.reader is not None and not images.is_cuda else images[index]
                y = labels[index] if labels is not None else None
                if copy_to is not None:  # gathered here (from the memory map), sent as uint8 without waiting
                    x = x.pin_memory().to(copy_to, non_blocking=True)
                    y = y.pin_memory().to(copy_to, non_blocking=True) if y is not None else None
                if flips is not None:
                    x = torch.where(flips[mine].view(-1, 1, 1, 1), x.flip(-1), x)
                yield x.float() / 127.5 - 1.0, y
            epoch, skip = epoch + 1, 0

    def flips(self, seed: int, epoch: int) -> torch.Tensor | None:
        """With `mirror`, which places of the epoch's order are flipped: drawn from the run's seed and the epoch's
        number alone, so a resumed run draws them without the epochs before (None without `mirror`)."""
        if not self.mirror:
            return None
        generator = torch.Generator().manual_seed((seed * 1_000_003 + epoch + 1) % (1 << 63))
        return torch.rand(len(self), generator=generator) < 0.5


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
