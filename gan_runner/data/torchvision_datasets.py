"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own loaders (their on-disk formats, their
checksums), held in memory as uint8 at `resolution`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from gan_runner.data import ImageTensorDataset, to_uint8_images
from gan_runner.errors import UserError


def _load(cls: type, layout: str, root: str, train: bool, download: bool) -> datasets.VisionDataset:
    name = cls.__name__
    try:
        return cls(root=root, train=train, download=download)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError... all mean "no data"
        where = Path(root).expanduser().resolve()
        how = (
            "the download failed (is there a network here?)"
            if download
            else "it is not there and dataset.download is false"
        )
        raise UserError(
            f"Could not load {name} from {where}: {how} (torchvision said: {error}). Fix: put its files "
            f"in {where / layout}, as torchvision's downloader leaves them (on a machine with internet, "
            f"run once with dataset.download=true and copy the folder), or point dataset.root at the "
            "folder that holds them. Or choose dataset=digits, which needs no download."
        ) from None


class _TorchvisionImages(ImageTensorDataset):
    source: type
    layout: str  # where torchvision looks for the files under the root

    def __init__(
        self, root: str = "data", train: bool = True, download: bool = False, resolution: int = 32, channels: int = 1
    ) -> None:
        dataset = _load(self.source, self.layout, root, train, download)
        raw = torch.as_tensor(np.asarray(dataset.data))
        raw = raw.unsqueeze(1) if raw.dim() == 3 else raw.permute(0, 3, 1, 2)  # N x C x H x W
        images = to_uint8_images(raw.float() / 255.0, resolution, channels)
        labels = torch.as_tensor(np.asarray(dataset.targets)).long()
        super().__init__(images, labels, num_classes=len(dataset.classes))
        self.options = {"root": root, "download": download, "resolution": resolution, "channels": channels}

    def test_split(self) -> _TorchvisionImages:
        """The same dataset's test images (train=False) at the same size: FID's reference=test."""
        return type(self)(train=False, **self.options)


class MNIST(_TorchvisionImages):
    source = datasets.MNIST
    layout = "MNIST/raw"


class FashionMNIST(_TorchvisionImages):
    source = datasets.FashionMNIST
    layout = "FashionMNIST/raw"


class CIFAR10(_TorchvisionImages):
    source = datasets.CIFAR10
    layout = "cifar-10-batches-py"

    def __init__(
        self, root: str = "data", train: bool = True, download: bool = False, resolution: int = 32, channels: int = 3
    ) -> None:
        super().__init__(root, train, download, resolution, channels)
