"""Unpaired datasets: two domains of images, A and B, with no pairing between them, for games that learn A -> B and
B -> A together (CycleGAN). An unpaired dataset is an object with

- `unpaired = True` (a dataset says what it is),
- `shape`: one domain-B image as served (C, H, W); `source_shape`: one domain-A image (C, H, W). B is the output of
  the default direction (a_to_b) and A its input, as a paired dataset's target and source,
- `num_classes = None`: the cycle game trains unconditionally; labels are for judging only, never in batches,
- `domain_sizes`: (training images of A, training images of B); `__len__`: the smaller, so that a batch never holds
  an image twice in either domain,
- `batches(batch_size, generator, start=0, device=None, rows=None)`: an endless iterator of `(b, a)` float batches in
  [-1, 1], B first as a paired dataset's (target, source), beginning at batch number `start` without building the
  batches before it. The two domains are drawn independently: each has its own seeded order per epoch of its own
  (a domain's epoch is its own size over the batch size; the last incomplete batch of each is dropped), and its own
  random crops and flips, each a pure function of (the run's seed, the batch number, the domain, the image's place in
  the global batch). `rows=(start, stop)` yields only those rows of each global batch (torchrun: each process its
  share, reading nothing of the others' images), so the global batch is the same for any number of processes.
- `held_out_domains()`: `(a, labels_a, b, labels_b)`: each domain's held-out images as CPU floats in [-1, 1] at the
  served size (never cropped or flipped), in the same order at every call, and their classes (LongTensor) or None.

Each domain is an ImageTensorDataset underneath (uint8 in memory, or a prepared copy's memory map read through its
RowReader), so the epoch order, the flips (its `mirror`, drawn from a seed and the epoch), the dropped last batch,
exact resume, each process's rows and making batches on a CUDA device are its, not a second copy of them; a domain's
seed is the run's seed mixed with the domain, so A and B never share an order or a flip pattern. Crops are
gan_runner/data/paired.py's (crop_offsets, crop), drawn from the domain's seed and the batch number.

`dataset=unpaired_folder` reads the official layout (below); `dataset=mnist_digits8` (gan_runner/data/mnist_digits8.py)
is a task with no download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from gan_runner.data import ImageTensorDataset
from gan_runner.data.image_folder import IMAGE_SUFFIXES, ImageSource
from gan_runner.data.paired import check_jitter, crop, crop_offsets, to_float
from gan_runner.data.prepared import check_workers, prepared_copy, read_prepared
from gan_runner.errors import UserError

Batch = tuple[torch.Tensor, torch.Tensor]  # a batch of domain B and one of domain A, drawn independently
DOMAINS = ("A", "B")


def domain_seed(seed: int, domain: int) -> int:
    """The seed of domain `domain`'s draws (0: A, 1: B) in a run of `seed`: its orders, flips and crops. Multiplied
    by an odd 64-bit constant (2^64 / the golden ratio) so that nearby seeds and the two domains do not collide."""
    return (seed * 0x9E3779B97F4A7C15 + domain + 1) % (1 << 63)


class UnpairedImages:
    """Two domains of images, `a` and `b` (ImageTensorDataset of uint8 images, unlabelled, `mirror` for random flips),
    drawn independently; with `crop_size` smaller than a domain's side, each drawn image is cut to a random
    crop_size square of its own (the flip comes first, as in paired.StackedPairs: with a uniformly random window that
    is the same distribution as crop, then flip). `held_out_a` and `held_out_b` are uint8 held-out images at the
    served size, `labels_a` and `labels_b` their classes or None."""

    unpaired = True
    num_classes = None
    reads_its_share = True  # batches() takes rows=(start, stop): see gan_runner/data/__init__.py

    def __init__(self, a: ImageTensorDataset, b: ImageTensorDataset, held_out_a: torch.Tensor, held_out_b: torch.Tensor,
                 labels_a: torch.Tensor | None = None, labels_b: torch.Tensor | None = None,
                 crop_size: int | None = None) -> None:
        self.a, self.b = a, b
        for name, domain in (("A", a), ("B", b)):
            if crop_size is not None and crop_size > min(domain.shape[1:]):
                raise ValueError(f"crop_size {crop_size} is larger than domain {name}'s images ({domain.shape})")
        self.crop_size = crop_size
        self.source_shape, self.shape = self.served(a), self.served(b)
        for name, images, domain in (("A", held_out_a, a), ("B", held_out_b, b)):
            if tuple(images.shape[1:]) != self.served(domain):
                raise ValueError(f"held-out images of domain {name} of shape {tuple(images.shape[1:])} do not fit its "
                                 f"training images served as {self.served(domain)}")
        self.held_out_a, self.held_out_b = held_out_a, held_out_b
        self.labels_a, self.labels_b = labels_a, labels_b
        self.domain_sizes = (len(a), len(b))

    def served(self, domain: ImageTensorDataset) -> tuple[int, int, int]:
        """One image of `domain` as batches serve it: a crop_size square with crop_size, else whole."""
        channels, height, width = domain.shape
        return (channels, height, width) if self.crop_size is None else (channels, self.crop_size, self.crop_size)

    def __len__(self) -> int:
        return min(self.domain_sizes)

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None, rows: tuple[int, int] | None = None) -> Iterator[Batch]:
        seed = generator.initial_seed()
        b = self.domain_batches(self.b, domain_seed(seed, 1), batch_size, start, device, rows)
        a = self.domain_batches(self.a, domain_seed(seed, 0), batch_size, start, device, rows)
        return zip(b, a)

    def domain_batches(self, domain: ImageTensorDataset, seed: int, batch_size: int, start: int,
                       device: torch.device | None, rows: tuple[int, int] | None) -> Iterator[torch.Tensor]:
        """One domain's batches, from a generator of its own seeded by `seed`; the crops of the whole global batch are
        drawn, so a process's rows get their own."""
        first_row, last_row = rows or (0, batch_size)
        images = domain.batches(batch_size, torch.Generator().manual_seed(seed), start, device, rows)
        for number, (x, _) in enumerate(images, start):
            spare = (x.shape[-2] - self.served(domain)[-2], x.shape[-1] - self.served(domain)[-1])
            if spare != (0, 0):
                top, left = crop_offsets(seed, number, batch_size, spare)
                x = crop(x, top[first_row:last_row], left[first_row:last_row], self.crop_size)
            yield x

    def held_out_domains(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        return to_float(self.held_out_a), self.labels_a, to_float(self.held_out_b), self.labels_b


# The official layout (junyanz/pytorch-CycleGAN-and-pix2pix, data/unaligned_dataset.py): root/trainA, root/trainB,
# root/testA, root/testB, any number of images in each.
LAYOUT = "root/trainA/ and root/trainB/ (training images of domains A and B, any number each, no pairing) and " \
         "root/testA/ and root/testB/ (held-out images)"


def holds_images(folder: Path) -> bool:
    """Whether `folder` is a folder with an image anywhere inside it (the port's make_dataset walks subfolders)."""
    return folder.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.rglob("*"))


def missing(root: Path, split: str) -> list[str]:
    """Which of `split`A/ and `split`B/ under `root` are missing or hold no images, each said so."""
    said = []
    for domain in DOMAINS:
        folder = root / f"{split}{domain}"
        if not folder.is_dir():
            said.append(f"{folder} does not exist")
        elif not holds_images(folder):
            said.append(f"{folder} holds no images")
    return said


class UnpairedFolder(UnpairedImages):
    """The unpaired images of `root` in the official layout (trainA/, trainB/, testA/, testB/), each folder read
    through its own prepared copy (gan_runner/data/prepared.py, under `prepared_dir`, made by `workers` processes on
    first use: later runs memory-map it): training images at `load_size` squared, cut to a random `crop_size` square
    and flipped left-right with probability 1/2 with `flip` (the port's --preprocess resize_and_crop, load 286, crop
    256, flips unless --no_flip); held-out images resized straight to `crop_size`. The prepared copy centre-crops a
    non-square image to a square before resizing, where the port resizes ignoring the aspect ratio: the same for
    square images. `channels_a` and `channels_b` are each 1 (grey) or 3 (RGB)."""

    def __init__(self, root: str, load_size: int = 286, crop_size: int = 256, flip: bool = True, channels_a: int = 3,
                 channels_b: int = 3, prepared_dir: str | None = None, workers: int | None = None) -> None:
        for key, channels in (("channels_a", channels_a), ("channels_b", channels_b)):
            if channels not in (1, 3) or isinstance(channels, bool):
                raise UserError(f"dataset.{key}={channels!r}: the images of a domain have 1 (grey) or 3 (RGB) "
                                f"channels (each is converted to it). Fix: dataset.{key}=1 or dataset.{key}=3.")
        check_jitter(load_size, crop_size, "training images", "CycleGAN's")
        check_workers(workers)
        root_path = Path(root).expanduser().resolve()
        if not root_path.is_dir():
            raise UserError(f"The unpaired folder {root_path} does not exist or is not a folder. "
                            f"dataset=unpaired_folder reads {LAYOUT}, as CycleGAN's datasets come (horse2zebra, "
                            "...). Fix: set dataset.root to such a folder, e.g. gan-run dataset=unpaired_folder dataset.root=/path/to/horse2zebra.")
        empty = missing(root_path, "train")
        if empty:
            raise UserError(f"One domain of the unpaired folder {root_path} is empty: {' and '.join(empty)}. Both "
                            "domains need training images (any number each, no pairing: the game learns A -> B and "
                            f"B -> A from them). dataset=unpaired_folder reads {LAYOUT}. Fix: put the images of "
                            "domain A in trainA/ and those of domain B in trainB/ (subfolders are searched too).")
        empty = missing(root_path, "test")
        if empty:
            raise UserError(f"The unpaired folder {root_path} has no held-out images for a domain: "
                            f"{' and '.join(empty)}. Evaluation and the sample pictures translate held-out images of "
                            "each domain, which training never sees. Fix: put some images of domain A in testA/ and "
                            "of domain B in testB/ (e.g. move a few from trainA/ and trainB/; CycleGAN's datasets come "
                            "with both).")
        channels = {"A": channels_a, "B": channels_b}

        def prepared(split: str, domain: str, size: int):  # a folder's images and reader, from its prepared copy
            source = ImageSource(root_path / f"{split}{domain}")
            folder = prepared_copy(source, size, channels[domain], prepared_dir, workers)
            images, reader, _, _ = read_prepared(folder)
            return images, reader, folder

        training = {domain: prepared("train", domain, load_size) for domain in DOMAINS}
        held_out = {domain: prepared("test", domain, crop_size) for domain in DOMAINS}
        a, b = (ImageTensorDataset(training[d][0], None, None, mirror=bool(flip), reader=training[d][1])
                for d in DOMAINS)
        super().__init__(a, b, held_out["A"][0], held_out["B"][0],
                         crop_size=crop_size if crop_size < load_size else None)
        self.root = root_path
        self.prepared = {f"{split}{d}": copies[d][2] for split, copies in (("train", training), ("test", held_out))
                         for d in DOMAINS}
