"""Paired datasets: each training example is a (target, source) pair of images, for games that learn source -> target
(pix2pix's translation, SRGAN's super-resolution). A paired dataset is an object with

- `paired = True` (a dataset says what it is; an unpaired one has no such attribute),
- `shape`: one TARGET image's shape (C, H, W); `source_shape`: one SOURCE image's (C, h, w), smaller for x4 SR,
- `num_classes = None`: the paired game trains unconditionally,
- `batches(batch_size, generator, start=0, device=None)`: an endless iterator of `(target, source)` float batches in
  [-1, 1] drawn with `generator`, beginning at batch number `start` without building the batches before it; the last
  incomplete batch of an epoch is dropped. Random crops and flips are the same for both images of a pair and are a
  pure function of (the generator's seed, the batch number): a resumed run sees the augmentations it would have seen.
- `held_out()`: `(sources, targets, labels)` of the held-out pairs, CPU floats in [-1, 1] (labels: a LongTensor of
  classes, or None), in the same order at every call: what evaluation measures.
- `__len__`: the number of training pairs.

Both kinds below are ImageTensorDataset's uint8 images underneath, so the seeded epoch order, the flips (its
`mirror`, drawn from the seed and the epoch), the dropped last batch, exact resume and each process's rows under
torchrun (`rows=`) are its, not a second copy of them: `StackedPairs` holds each pair's two images as the channels of
one image (target channels first), `DerivedPairs` holds the targets and computes each source from its target.
"""

from __future__ import annotations

from typing import Iterator

import torch

from gan_runner.data import ImageTensorDataset
from gan_runner.errors import UserError

Pairs = tuple[torch.Tensor, torch.Tensor]  # a batch of targets and their sources


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images as ImageTensorDataset serves them: floats in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def crop_offsets(seed: int, number: int, batch_size: int, spare: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The top and left corners of the crops of batch `number`'s `batch_size` images (each in 0..spare inclusive), drawn
    from a generator of their own seeded by the run's seed and the batch number alone: a resumed run draws them without
    the batches before, and the order and flips (ImageTensorDataset's draws) are those of an uncropped dataset."""
    # Two odd 64-bit constants (Knuth's MMIX LCG) mix seed and number, so that nearby seeds and batches do not collide.
    generator = torch.Generator().manual_seed((seed * 6364136223846793005 + number * 1442695040888963407 + 1)
                                              % (1 << 63))
    return (torch.randint(0, spare[0] + 1, (batch_size,), generator=generator),
            torch.randint(0, spare[1] + 1, (batch_size,), generator=generator))


def check_jitter(load_size: int, crop_size: int, images: str, whose: str) -> None:
    """Refuses (one paragraph) a load_size and crop_size that are not whole numbers from 1 with crop_size <= load_size
    (`images`: what is resized and cropped; `whose`: the paper whose 286 and 256 the fix names)."""
    sizes_are_whole = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (load_size, crop_size))
    if not sizes_are_whole or crop_size > load_size:
        raise UserError(f"dataset.load_size={load_size!r} and dataset.crop_size={crop_size!r}: {images} are "
                        "resized to load_size and cut to a random crop_size square inside, so both must be whole "
                        "numbers from 1 with crop_size <= load_size. Fix: e.g. dataset.load_size=286 "
                        f"dataset.crop_size=256 ({whose}), or both 256 for no random crop.")


def crop(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """Each image's own `size` x `size` window at (top[i], left[i]): one gather for the whole batch, on its device."""
    steps = torch.arange(size, device=images.device)
    rows = (top.to(images.device).view(-1, 1, 1, 1) + steps.view(1, 1, -1, 1))
    columns = (left.to(images.device).view(-1, 1, 1, 1) + steps.view(1, 1, 1, -1))
    batch = torch.arange(images.shape[0], device=images.device).view(-1, 1, 1, 1)
    channels = torch.arange(images.shape[1], device=images.device).view(1, -1, 1, 1)
    return images[batch, channels, rows, columns]


class StackedPairs(ImageTensorDataset):
    """Pairs of images of one size held as one uint8 tensor (N x (C_target + C_source) x H x W: each pair's target
    channels, then its source's), so that whatever ImageTensorDataset draws (the order, `flip`'s mirror images) moves
    both images of a pair alike. With `crop_size` smaller than H or W, each drawn pair is cut to a random crop_size
    square, the same window in both images (pix2pix's random crop). pix2pix crops, then flips; here the flip comes
    first: with a uniformly random window the two give the same distribution. `held_out` are the held-out pairs,
    stacked the same way (evaluated whole, neither cropped nor flipped), `held_out_labels` their classes or None."""

    paired = True

    def __init__(self, pairs: torch.Tensor, target_channels: int, held_out: torch.Tensor, crop_size: int | None = None,
                 flip: bool = False, held_out_labels: torch.Tensor | None = None) -> None:
        super().__init__(pairs, labels=None, num_classes=None, mirror=flip)
        height, width = pairs.shape[-2:]
        self.crop_size = crop_size if crop_size is not None and (crop_size, crop_size) != (height, width) else None
        side = (crop_size, crop_size) if self.crop_size is not None else (height, width)
        self.target_channels = target_channels
        self.shape = (target_channels, *side)
        self.source_shape = (pairs.shape[1] - target_channels, *side)
        if held_out.shape[1:] != (pairs.shape[1], *side):
            raise ValueError(f"held-out pairs of shape {tuple(held_out.shape[1:])} do not fit training pairs served as "
                             f"{(pairs.shape[1], *side)}")
        self.held_out_pairs = held_out
        self.held_out_labels = held_out_labels

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None, rows: tuple[int, int] | None = None) -> Iterator[Pairs]:
        seed = generator.initial_seed()
        first_row, last_row = rows or (0, batch_size)
        for number, (stacked, _) in enumerate(super().batches(batch_size, generator, start, device, rows), start):
            if self.crop_size is not None:  # drawn for the whole global batch, so a process's rows get their own
                spare = (stacked.shape[-2] - self.crop_size, stacked.shape[-1] - self.crop_size)
                top, left = crop_offsets(seed, number, batch_size, spare)
                stacked = crop(stacked, top[first_row:last_row], left[first_row:last_row], self.crop_size)
            yield stacked[:, : self.target_channels], stacked[:, self.target_channels :]

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        pairs = to_float(self.held_out_pairs)
        return pairs[:, self.target_channels :], pairs[:, : self.target_channels], self.held_out_labels


class DerivedPairs(ImageTensorDataset):
    """Pairs whose source is computed from its target (`source_of`, a function of a float batch in [-1, 1]): only the
    targets are held (uint8); each batch's sources are made from its targets after they are drawn and flipped, so
    they are the sources of exactly those targets. `held_out` are the held-out targets (uint8), `held_out_labels`
    their classes or None. Subclasses define `source_of`."""

    paired = True

    def __init__(self, targets: torch.Tensor, held_out: torch.Tensor, flip: bool = False,
                 held_out_labels: torch.Tensor | None = None) -> None:
        super().__init__(targets, labels=None, num_classes=None, mirror=flip)
        self.source_shape = tuple(self.source_of(to_float(targets[:1])).shape[1:])
        self.held_out_targets = held_out
        self.held_out_labels = held_out_labels

    def source_of(self, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None, rows: tuple[int, int] | None = None) -> Iterator[Pairs]:
        for targets, _ in super().batches(batch_size, generator, start, device, rows):
            yield targets, self.source_of(targets)

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        targets = to_float(self.held_out_targets)
        return self.source_of(targets), targets, self.held_out_labels
