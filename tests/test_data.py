"""data/: datasets loaded through the real code from files made here in the real on-disk format, and the data order
started at any batch equal to the replayed one (without building the batches before it)."""

from __future__ import annotations

import pickle
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_runner.data.digits import Digits
from gan_runner.data.image_folder import ImageFolder
from gan_runner.data.torchvision_datasets import CIFAR10, FashionMNIST, MNIST
from gan_runner.data.toy import Grid, Ring
from gan_runner.errors import UserError




def test_ring8_is_pacgans_ring() -> None:
    ring = Ring()
    assert ring.centres.shape == (8, 2)
    torch.testing.assert_close(ring.centres.norm(dim=1), torch.ones(8))
    angles = torch.atan2(ring.centres[:, 1], ring.centres[:, 0]).remainder(2 * np.pi).sort().values
    torch.testing.assert_close(angles, torch.arange(8) * (2 * np.pi / 8))
    x, modes = ring.sample(40_000, torch.Generator().manual_seed(0))
    offsets = x - ring.centres[modes]
    assert offsets.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.bincount(modes).min() > 4_500  # equal weights


def test_grid25_is_pacgans_grid() -> None:
    grid = Grid()
    assert sorted(map(tuple, grid.centres.tolist())) == [
        (float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)
    ]
    x, modes = grid.sample(40_000, torch.Generator().manual_seed(0))
    assert (x - grid.centres[modes]).std().item() == pytest.approx(0.05, rel=0.02)


def test_batches_are_seeded_and_endless() -> None:
    digits = Digits(resolution=8)
    first = next(digits.batches(32, torch.Generator().manual_seed(3)))[0]
    again = next(digits.batches(32, torch.Generator().manual_seed(3)))[0]
    torch.testing.assert_close(first, again)
    batches = digits.batches(500, torch.Generator().manual_seed(0))
    seen = [next(batches)[1] for _ in range(7)]  # 1,797 images: more batches than one epoch holds
    assert all(len(y) == 500 for y in seen)


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_digits(resolution: int) -> None:
    digits = Digits(resolution=resolution)
    assert len(digits) == 1797 and digits.shape == (1, resolution, resolution) and digits.num_classes == 10
    x, y = next(digits.batches(64, torch.Generator().manual_seed(0)))
    assert x.shape == (64, 1, resolution, resolution) and x.min() >= -1 and x.max() <= 1
    assert x.min() == -1  # the digits' background is 0, which maps to -1
    # The batch is the first 64 of the seeded permutation, each image with its own label.
    index = torch.randperm(1797, generator=torch.Generator().manual_seed(0))[:64]
    assert torch.equal(y, digits.labels[index]) and torch.equal(x, digits.images[index].float() / 127.5 - 1)


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format of LeCun's MNIST files: magic (0, 0, type 0x08 = ubyte, ndim), big-endian sizes, data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("cls, folder", [(MNIST, "MNIST"), (FashionMNIST, "FashionMNIST")])
def test_mnist_style_datasets_load_from_idx_files(tmp_path: Path, cls: type, folder: str) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    images[:, :, :14] = 0  # left half black, right half random: survives the resize
    labels = np.arange(12) % 10
    raw = tmp_path / folder / "raw"
    for split, n in (("train", 12), ("t10k", 3)):
        write_idx(raw / f"{split}-images-idx3-ubyte", images[:n])
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels[:n])
    dataset = cls(root=str(tmp_path), train=True, resolution=32, channels=1)
    assert len(dataset) == 12 and dataset.shape == (1, 32, 32) and dataset.num_classes == 10
    torch.testing.assert_close(dataset.labels, torch.from_numpy(labels).long())
    assert dataset.images[:, :, :, :14].float().mean() < 5 < dataset.images[:, :, :, 18:].float().mean()
    assert len(cls(root=str(tmp_path), train=False, resolution=16)) == 3


def test_cifar10_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # torchvision checks each CIFAR batch file's MD5 even with download=False, so batches made here can
    # never pass it: the check is bypassed, and what is tested is the parsing we own on top of
    # torchvision's reader (channel order, resolution, labels).
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args, **kwargs: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    red = np.zeros((10, 3, 32, 32), dtype=np.uint8)
    red[:, 0] = 255  # pure red images, channel-first as the CIFAR files store them
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": red.reshape(10, -1), "labels": list(rng.integers(0, 10, 10))}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    dataset = CIFAR10(root=str(tmp_path), resolution=16)
    assert len(dataset) == 50 and dataset.shape == (3, 16, 16) and dataset.num_classes == 10
    assert (dataset.images[:, 0] == 255).all() and (dataset.images[:, 1:] == 0).all()


def test_torchvision_dataset_missing_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError) as error:
        MNIST(root=str(tmp_path / "nowhere"), download=False)
    message = str(error.value)
    assert str((tmp_path / "nowhere").resolve()) in message and "dataset.download=true" in message


def make_image(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_image_folder_with_class_subfolders(tmp_path: Path) -> None:
    make_image(tmp_path / "cats" / "a.png", (40, 20), (255, 0, 0))
    make_image(tmp_path / "cats" / "deeper" / "b.jpg", (64, 64), (255, 0, 0))
    make_image(tmp_path / "dogs" / "c.bmp", (10, 30), (0, 0, 255))
    (tmp_path / "dogs" / "notes.txt").write_text("not an image, and not read")
    dataset = ImageFolder(root=str(tmp_path), resolution=16, channels=3)
    assert len(dataset) == 3 and dataset.shape == (3, 16, 16)
    assert dataset.classes == ["cats", "dogs"] and dataset.labels.tolist() == [0, 0, 1]
    assert dataset.images[2, 2].float().mean() > 250 and dataset.images[2, 0].float().mean() < 5
    grey = ImageFolder(root=str(tmp_path), resolution=8, channels=1)
    assert grey.shape == (1, 8, 8)
    # ITU-R 601 luma of pure red is 0.299 * 255
    assert grey.images[0].float().mean().item() == pytest.approx(0.299 * 255, abs=1.5)


def test_image_folder_centre_crops(tmp_path: Path) -> None:
    image = np.zeros((20, 60, 3), dtype=np.uint8)
    image[:, 20:40] = 255  # a white middle third: after resizing to 16 high and cropping, all white
    Image.fromarray(image).save(tmp_path / "wide.png")
    dataset = ImageFolder(root=str(tmp_path), resolution=16, channels=1)
    assert dataset.labels is None and dataset.num_classes is None
    assert dataset.images[0, 0, :, 3:13].float().min() > 200


def test_image_folder_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        ImageFolder(root=str(tmp_path / "missing"))
    with pytest.raises(UserError, match="holds no images"):
        ImageFolder(root=str(tmp_path))
    make_image(tmp_path / "good.png", (8, 8), (1, 2, 3))
    (tmp_path / "broken.png").write_bytes(b"this is not a PNG")
    with pytest.raises(UserError, match="broken.png"):
        ImageFolder(root=str(tmp_path))


@pytest.mark.parametrize("dataset", [Digits(8), Ring()], ids=["images", "mixture"])
def test_the_data_order_starts_at_any_batch_as_if_replayed(dataset: object) -> None:
    replayed = dataset.batches(64, torch.Generator().manual_seed(3))
    order = [next(replayed) for _ in range(90)]  # digits: 28 batches an epoch
    for start in (0, 1, 27, 28, 29, 56, 85):
        batches = dataset.batches(64, torch.Generator().manual_seed(3), start=start)
        for expected in order[start:start + 3]:
            x, y = next(batches)
            assert torch.equal(x, expected[0]) and torch.equal(y, expected[1]), start


def test_skipping_the_data_order_builds_no_images() -> None:
    # 250,000 batches of 128x128 images: replaying them built every batch (minutes); skipping draws one
    # permutation an epoch. Generous bound: this only catches a return to replaying.
    digits = Digits(128)
    started = time.perf_counter()
    next(digits.batches(64, torch.Generator().manual_seed(0), start=250_000))
    assert time.perf_counter() - started < 20
