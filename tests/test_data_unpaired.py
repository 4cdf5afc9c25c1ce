"""Unpaired data (gan_runner/data/unpaired.py, mnist_digits8.py): the official trainA/ trainB/ testA/ testB/ layout,
written here with PIL and built from conf/dataset/unpaired_folder.yaml's own options, read through prepared copies;
the two domains drawn independently; batches from start=k are the k-th batches of a fresh iterator; each process's
rows make up the global batch; crops and flips per image; each bad folder or option gets its one paragraph; and
dataset=mnist_digits8 is what the docs say. The datasets are built from their YAML's dataset block, not composed
with gan-run's config: the cycle game's files (conf/game/cycle.yaml, ...) are not the data's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from gan_runner.data import ImageTensorDataset
from gan_runner.data.digits import digit_images, train_and_held_out
from gan_runner.data.mnist_5k import MNIST5k
from gan_runner.data.unpaired import UnpairedImages
from gan_runner.engine.build import build
from gan_runner.errors import UserError
from tests.conftest import CONF

SIDE, CROP = 12, 8  # training images written at 12x12 and read at load_size 12 (not resized: exact values), crop 8
COUNTS = {"trainA": 6, "trainB": 10, "testA": 2, "testB": 3}
FIRST = {"trainA": 0, "trainB": 100, "testA": 200, "testB": 300}  # each image's own index: its own random content


def picture(index: int, side: int = SIDE) -> np.ndarray:
    """An RGB image of random content, its own for each index (so no window of one matches another's)."""
    return np.random.default_rng(index).integers(0, 256, (side, side, 3), dtype=np.uint8)


def as_float(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1


def unpaired_folder(root: Path, counts: dict[str, int] = COUNTS) -> Path:
    """The official layout: training images at SIDE, held-out ones at CROP (so that held out is not resized)."""
    for split, count in counts.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(FIRST[split], FIRST[split] + count):
            Image.fromarray(picture(i, CROP if split.startswith("test") else SIDE)).save(root / split / f"{i:03d}.png")
    return root


def dataset_block(name: str, **options) -> DictConfig:
    """conf/dataset/<name>.yaml's dataset block with `options` set, as the config gan-run composes holds it."""
    config = OmegaConf.load(CONF / "dataset" / f"{name}.yaml")
    return OmegaConf.merge(OmegaConf.masked_copy(config, ["dataset"]), {"dataset": options})


def build_folder(root: Path, **options):
    """The dataset as gan-run builds it (engine.build: a refusal reaches the user as its one paragraph) from
    conf/dataset/unpaired_folder.yaml's dataset block, at load 12 and crop 8."""
    settings = {"root": str(root), "load_size": SIDE, "crop_size": CROP, "prepared_dir": str(root.parent / "prepared"),
                **options}
    return build(dataset_block("unpaired_folder", **settings), "dataset")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return unpaired_folder(tmp_path / "horse2zebra")


def which(image: torch.Tensor, split: str, crops: bool = True) -> tuple[int, bool, tuple[int, int]]:
    """The training image of `split` a served image comes from (its index), whether it was flipped, and its window's
    top-left corner; every window of every image is searched, so a window out of bounds would match nothing."""
    side = image.shape[-1]
    found = []
    for i in range(FIRST[split], FIRST[split] + COUNTS[split]):
        whole = as_float(picture(i))
        for flipped, view in ((False, whole), (True, whole.flip(-1))):
            for top in range(SIDE - side + 1):
                for left in range(SIDE - side + 1):
                    if torch.equal(view[:, top : top + side, left : left + side], image):
                        found.append((i, flipped, (top, left)))
    assert len(found) == 1, f"{len(found)} matches"
    return found[0]


def test_the_official_layout_is_read_through_prepared_copies(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = build_folder(folder, channels_b=1)
    assert dataset.unpaired and dataset.num_classes is None and dataset.reads_its_share
    assert dataset.domain_sizes == (6, 10) and len(dataset) == 6  # the smaller domain bounds the batch
    assert dataset.source_shape == (3, CROP, CROP) and dataset.shape == (1, CROP, CROP)  # A is the source, B grey
    assert dataset.a.memory_mapped and dataset.b.memory_mapped  # batches read the copies' rows
    assert sorted(dataset.prepared) == ["testA", "testB", "trainA", "trainB"]
    assert all((copy / "images.npy").is_file() for copy in dataset.prepared.values())
    b, a = next(dataset.batches(4, torch.Generator().manual_seed(0)))
    assert b.shape == (4, 1, CROP, CROP) and a.shape == (4, 3, CROP, CROP)
    # Later runs read the copies: nothing is decoded again.
    monkeypatch.setattr("gan_runner.data.image_folder.decode_image", lambda *_: pytest.fail("decoded again"))
    again = build_folder(folder, channels_b=1)
    assert all(torch.equal(x, y) for x, y in zip(next(again.batches(4, torch.Generator().manual_seed(0))), (b, a)))


def test_held_out_images_are_testA_and_testB_whole_in_name_order(folder: Path) -> None:
    dataset = build_folder(folder)
    a, labels_a, b, labels_b = dataset.held_out_domains()
    assert labels_a is None and labels_b is None
    assert torch.equal(a, torch.stack([as_float(picture(i, CROP)) for i in (200, 201)]))
    assert torch.equal(b, torch.stack([as_float(picture(i, CROP)) for i in (300, 301, 302)]))
    again = dataset.held_out_domains()
    assert torch.equal(again[0], a) and torch.equal(again[2], b)


def test_each_domain_is_drawn_once_an_epoch_of_its_own(folder: Path) -> None:
    """No crop, no flip: A's 6 images come once in every 3 batches of 2, B's 10 once in every 5 batches."""
    dataset = build_folder(folder, crop_size=SIDE, flip=False)
    batches = dataset.batches(2, torch.Generator().manual_seed(3))
    drawn = {"trainA": [], "trainB": []}
    for _ in range(15):  # five epochs of A, three of B
        b, a = next(batches)
        drawn["trainA"] += [which(image, "trainA")[0] for image in a]
        drawn["trainB"] += [which(image, "trainB")[0] for image in b]
    for split, count in (("trainA", 6), ("trainB", 10)):
        epochs = [drawn[split][k : k + count] for k in range(0, 30, count)]
        assert all(sorted(epoch) == list(range(FIRST[split], FIRST[split] + count)) for epoch in epochs)
        assert len({tuple(epoch) for epoch in epochs}) > 1  # reshuffled each epoch


def numbered(count: int, mirror: bool = False) -> ImageTensorDataset:
    """`count` 1 x 2 x 2 images, image k with the value k in its left column and 100 + k in its right one: a batch
    shows which images it holds and which of them are flipped."""
    columns = torch.stack([torch.arange(count), torch.arange(count) + 100], dim=-1).to(torch.uint8)
    return ImageTensorDataset(columns.view(-1, 1, 1, 2).expand(-1, 1, 2, 2).clone(), None, None, mirror=mirror)


def contents(batch: torch.Tensor) -> list[tuple[int, bool]]:
    """Each image's number and whether it is flipped."""
    left, right = (((batch[:, 0, 0, k] + 1) * 127.5).round().long().tolist() for k in (0, 1))
    return [(min(x, y), x > y) for x, y in zip(left, right)]


def test_the_two_domains_are_drawn_independently() -> None:
    held_out = torch.zeros(1, 1, 2, 2, dtype=torch.uint8)

    def drawn(a: ImageTensorDataset, b: ImageTensorDataset, seed: int = 0, steps: int = 12):
        batches = UnpairedImages(a, b, held_out, held_out).batches(4, torch.Generator().manual_seed(seed))
        pairs = [next(batches) for _ in range(steps)]
        return [contents(a) for _, a in pairs], [contents(b) for b, _ in pairs]

    a_drawn, b_drawn = drawn(numbered(20, mirror=True), numbered(20, mirror=True))
    orders = [[[k for k, _ in batch] for batch in domain] for domain in (a_drawn, b_drawn)]
    flips = [[[f for _, f in batch] for batch in domain] for domain in (a_drawn, b_drawn)]
    # The same images in both domains: not the same order, nor the same flips at the same places, so nothing pairs.
    assert orders[0] != orders[1] and flips[0] != flips[1]
    assert sorted(sum(orders[0][:5], [])) == sorted(sum(orders[1][:5], [])) == list(range(20))
    assert drawn(numbered(20, mirror=True), numbered(36, mirror=True))[0] == a_drawn  # A's draws ignore B's size
    assert drawn(numbered(20, mirror=True), numbered(20, mirror=True), seed=1)[0] != a_drawn  # and follow the seed


def served(dataset, batch_size: int, start: int, count: int, rows=None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    batches = dataset.batches(batch_size, torch.Generator().manual_seed(7), start=start, rows=rows)
    return [next(batches) for _ in range(count)]


def test_batches_resume_exactly_from_any_batch_number(folder: Path) -> None:
    dataset = build_folder(folder)  # random crops and flips on
    fresh = served(dataset, 2, 0, 12)  # four epochs of A (3 batches each), two and a half of B (5 each)
    for start in (1, 3, 5, 7):
        resumed = served(dataset, 2, start, 12 - start)
        assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(resumed, fresh[start:]))


def test_each_process_gets_its_rows_of_the_same_global_batch(folder: Path) -> None:
    dataset = build_folder(folder)
    whole = served(dataset, 3, 2, 6)
    for split in (1, 2):
        first, second = served(dataset, 3, 2, 6, rows=(0, split)), served(dataset, 3, 2, 6, rows=(split, 3))
        for (b, a), (b0, a0), (b1, a1) in zip(whole, first, second):
            assert torch.equal(torch.cat([b0, b1]), b) and torch.equal(torch.cat([a0, a1]), a)


def test_crops_stay_within_the_image_and_each_image_has_its_own_crop_and_flip(folder: Path) -> None:
    dataset = build_folder(folder)
    batches = dataset.batches(5, torch.Generator().manual_seed(0))
    flips_in_a_batch, corners = [], set()
    for _ in range(4):
        b, _ = next(batches)
        found = [which(image, "trainB") for image in b]  # a window within the image, or no match at all
        flips_in_a_batch.append({flipped for _, flipped, _ in found})
        corners |= {corner for _, _, corner in found}
    assert {True, False} in flips_in_a_batch  # flipped per image, not per batch
    assert len(corners) > 8 and {0, SIDE - CROP} <= {top for top, _ in corners}  # the windows span the whole spare
    unflipped = build_folder(folder, flip=False)
    b, a = next(unflipped.batches(5, torch.Generator().manual_seed(0)))
    assert not any(which(image, "trainB")[1] for image in b) and not any(which(image, "trainA")[1] for image in a)


@pytest.mark.parametrize("fault, options, said", [
    ("no root", {}, ["does not exist", "trainA/", "Fix: set dataset.root"]),
    ("no trainB", {}, ["trainB does not exist", "One domain", "Fix:"]),
    ("empty trainA", {}, ["trainA holds no images", "One domain", "Fix:"]),
    ("empty trainA and trainB", {}, ["trainA holds no images and", "trainB holds no images"]),
    ("no testA", {}, ["testA does not exist", "held-out", "Fix: put some images"]),
    ("empty testB", {}, ["testB holds no images", "held-out", "Fix: put some images"]),
    ("crop larger than load", {"crop_size": 13}, ["dataset.crop_size=13", "crop_size <= load_size", "Fix:"]),
    ("channels 2", {"channels_a": 2}, ["dataset.channels_a=2", "1 (grey) or 3 (RGB)", "Fix: dataset.channels_a=1"]),
    ("channels 4", {"channels_b": 4}, ["dataset.channels_b=4", "Fix: dataset.channels_b=1"]),
])
def test_bad_input_gets_one_paragraph_naming_the_problem_and_the_fix(folder: Path, fault: str, options: dict,
                                                                     said: list[str]) -> None:
    emptied = {"no trainB": ["trainB"], "empty trainA": ["trainA"], "empty trainA and trainB": ["trainA", "trainB"],
               "no testA": ["testA"], "empty testB": ["testB"]}.get(fault, [])
    for split in emptied:
        for image in (folder / split).iterdir():
            image.unlink()
        if fault.startswith("no "):
            (folder / split).rmdir()
        else:
            (folder / split / "notes.txt").write_text("not an image")
    root = folder.parent / "elsewhere" if fault == "no root" else folder
    with pytest.raises(UserError) as refused:
        build_folder(root, **options)
    message = str(refused.value)
    assert "\n" not in message and all(part in message for part in said), message
    assert not (folder.parent / "prepared").exists()  # refused before any image is decoded


# The embedded task: mnist_5k's digits (A) and scikit-learn's digits made blocky (B).

@pytest.fixture(scope="module")
def digits8():
    return build(dataset_block("mnist_digits8"), "dataset")


def test_mnist_digits8_domains_and_held_out_classes(digits8) -> None:
    assert digits8.unpaired and digits8.num_classes is None
    assert digits8.shape == digits8.source_shape == (1, 32, 32)
    assert digits8.domain_sizes == (4500, 1347) and len(digits8) == 1347
    a, labels_a, b, labels_b = digits8.held_out_domains()
    assert a.shape == (500, 1, 32, 32) and b.shape == (450, 1, 32, 32)
    assert torch.bincount(labels_a).tolist() == [50] * 10 and len(labels_b) == 450
    # A's held-out digits as MNIST5k(resolution=32) makes them; B's are scikit-learn's held-out digits, their labels.
    assert torch.equal(a, MNIST5k(train=False, resolution=32).images.float() / 127.5 - 1)
    eight, classes = digit_images(8)
    train, held_out = train_and_held_out(0)
    assert torch.equal(labels_b, classes[held_out])
    assert torch.equal(b[:, :, ::4, ::4], eight[held_out].float() / 127.5 - 1)
    assert torch.equal(digits8.b.images[:, :, ::4, ::4], eight[train])
    for images in (a, b):
        assert images.min() == -1 and images.max() == 1
    held = digits8.held_out_domains()
    assert all(torch.equal(x, y) for x, y in zip(held, (a, labels_a, b, labels_b)))


def test_mnist_digits8_b_is_nearest_upsampled_and_batches_hold_no_labels(digits8) -> None:
    _, _, b, _ = digits8.held_out_domains()
    blocks = b.unfold(-2, 4, 4).unfold(-2, 4, 4)  # N x 1 x 8 x 8 x 4 x 4: each 4x4 block of pixels
    assert torch.equal(blocks, blocks[..., :1, :1].expand_as(blocks))  # each block is one value: nearest neighbour
    assert torch.equal(digits8.b.images[:, :, ::4, ::4].repeat_interleave(4, -2).repeat_interleave(4, -1),
                       digits8.b.images)
    batch = next(digits8.batches(8, torch.Generator().manual_seed(0)))
    assert len(batch) == 2 and all(x.shape == (8, 1, 32, 32) and x.dtype == torch.float32 for x in batch)
    assert all(-1 <= x.min() and x.max() <= 1 for x in batch)
    # Whole digits, never flipped: every served A digit is one of A's training digits as stored.
    training_a = digits8.a.images.float() / 127.5 - 1
    assert all((training_a == image).all(dim=(1, 2, 3)).any() for image in batch[1])
