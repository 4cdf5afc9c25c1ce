"""Paired data (gan_runner/data/paired.py, paired_folder.py, mnist_pairs.py): pix2pix's two on-disk layouts, written
here with PIL, built through the real config as gan-run builds them; the pairing survives crops and flips (the same
window and flip for both images); batches from start=k are the k-th batches of a fresh iterator; direction=BtoA
swaps; each kind of bad folder gets its one paragraph; and the embedded digit tasks are what the docs say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from gan_runner.data.mnist_5k import MNIST5k
from gan_runner.engine.build import build
from gan_runner.errors import UserError
from tests.conftest import make_config

SIDE, CROP = 12, 8  # images written at 12x12 and served at load_size 12 (not resized: exact values), crop 8


def picture(index: int, side: int = SIDE) -> np.ndarray:
    """An RGB image of random content, its own for each index (so no window of one matches another's)."""
    return np.random.default_rng(index).integers(0, 256, (side, side, 3), dtype=np.uint8)


def partner(index: int, image: np.ndarray) -> np.ndarray:
    """Pair `index`'s B image: equal to A for even indices, its negative (255 - A) for odd ones."""
    return image if index % 2 == 0 else 255 - image


def save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def aligned_folder(root: Path, train: int = 6, val: int = 2) -> Path:
    """pix2pix's aligned layout: train/ and val/ of A | B images side by side."""
    for split, count, offset in (("train", train, 0), ("val", val, 100)):
        for i in range(offset, offset + count):
            a = picture(i, CROP if split == "val" else SIDE)
            save(np.concatenate([a, partner(i, a)], axis=1), root / split / f"{i:03d}.png")
    return root


def two_folders(root: Path, train: int = 6, val: int = 2) -> Path:
    """pix2pix's A/ and B/ folders with train/ and val/ inside each, same names for partners."""
    for split, count, offset in (("train", train, 0), ("val", val, 100)):
        for i in range(offset, offset + count):
            a = picture(i, CROP if split == "val" else SIDE)
            save(a, root / "A" / split / f"{i:03d}.png")
            save(partner(i, a), root / "B" / split / f"{i:03d}.png")
    return root


def paired_folder(root: Path, *overrides: str):
    """The dataset exactly as gan-run builds it from conf/dataset/paired_folder.yaml."""
    cfg = make_config("dataset=paired_folder", f"dataset.root={root}", f"dataset.load_size={SIDE}",
                      f"dataset.crop_size={CROP}", *overrides)
    return build(cfg, "dataset")


def as_float(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1


def windows(image: torch.Tensor) -> list[torch.Tensor]:
    """Every CROP x CROP window of the image and of its mirror image."""
    return [view[:, top : top + CROP, left : left + CROP] for view in (image, image.flip(-1))
            for top in range(SIDE - CROP + 1) for left in range(SIDE - CROP + 1)]


@pytest.mark.parametrize("layout", [aligned_folder, two_folders])
def test_each_layout_pairs_its_images_through_the_same_crop_and_flip(tmp_path: Path, layout) -> None:
    dataset = paired_folder(layout(tmp_path / "pairs"))
    assert dataset.paired and dataset.num_classes is None and len(dataset) == 6
    assert dataset.shape == (3, CROP, CROP) and dataset.source_shape == (3, CROP, CROP)
    # Which training pair (and relation) each cropped, possibly flipped, source window comes from.
    known = {i: windows(as_float(picture(i))) for i in range(6)}
    seen_flips, seen_offsets = set(), set()
    batches = dataset.batches(2, torch.Generator().manual_seed(0))
    for _ in range(12):  # four epochs
        targets, sources = next(batches)
        assert targets.shape == sources.shape == (2, 3, CROP, CROP)
        for target, source in zip(targets, sources):
            (i, k), = [(i, k) for i, views in known.items() for k, view in enumerate(views)
                       if torch.equal(view, source)]
            seen_flips.add(k >= len(known[i]) // 2)
            seen_offsets.add(k % (len(known[i]) // 2))
            expected = source if i % 2 == 0 else -source  # B = A, or B = 255 - A: the same window of the partner
            torch.testing.assert_close(target, expected, rtol=0, atol=1e-6)
    assert seen_flips == {False, True} and len(seen_offsets) > 5  # the jitter really varies


@pytest.mark.parametrize("layout", [aligned_folder, two_folders])
def test_held_out_pairs_come_from_val_whole_and_in_name_order(tmp_path: Path, layout) -> None:
    dataset = paired_folder(layout(tmp_path / "pairs", val=3))
    sources, targets, labels = dataset.held_out()
    assert labels is None and sources.shape == targets.shape == (3, 3, CROP, CROP)
    for k, i in enumerate(range(100, 103)):
        a = picture(i, CROP)
        assert torch.equal(sources[k], as_float(a)) and torch.equal(targets[k], as_float(partner(i, a)))
    again = dataset.held_out()
    assert torch.equal(again[0], sources) and torch.equal(again[1], targets)


def test_test_split_is_held_out_when_there_is_no_val(tmp_path: Path) -> None:
    root = aligned_folder(tmp_path / "pairs", val=2)
    (root / "val").rename(root / "test")
    assert paired_folder(root).held_out()[0].shape == (2, 3, CROP, CROP)


@pytest.mark.parametrize("layout", [aligned_folder, two_folders])
def test_b_to_a_swaps_source_and_target(tmp_path: Path, layout) -> None:
    root = layout(tmp_path / "pairs")
    forward, backward = paired_folder(root), paired_folder(root, "dataset.direction=BtoA")
    source, target, _ = forward.held_out()
    swapped_source, swapped_target, _ = backward.held_out()
    assert torch.equal(swapped_source, target) and torch.equal(swapped_target, source)
    assert not torch.equal(source, target)  # the odd pair differs, so a swap is visible
    (t1, s1), = [next(forward.batches(6, torch.Generator().manual_seed(3)))]
    (t2, s2), = [next(backward.batches(6, torch.Generator().manual_seed(3)))]
    assert torch.equal(t1, s2) and torch.equal(s1, t2)  # same order, crops and flips; halves swapped


def test_batches_resume_exactly_from_any_batch_number(tmp_path: Path) -> None:
    dataset = paired_folder(aligned_folder(tmp_path / "pairs"))  # 6 pairs, batches of 2: 3 an epoch
    fresh = dataset.batches(2, torch.Generator().manual_seed(5))
    reference = [next(fresh) for _ in range(9)]
    for start in (1, 4, 6):  # mid-epoch, and across epoch boundaries
        resumed = dataset.batches(2, torch.Generator().manual_seed(5), start=start)
        for k in range(start, 9):
            target, source = next(resumed)
            assert torch.equal(target, reference[k][0]) and torch.equal(source, reference[k][1]), (start, k)
    other = next(dataset.batches(2, torch.Generator().manual_seed(6)))
    assert not torch.equal(other[1], reference[0][1])


def test_each_process_gets_its_rows_of_the_same_global_batch(tmp_path: Path) -> None:
    """Under torchrun each process reads its own rows (reads_its_share): together they are the one-process batch,
    crops included."""
    dataset = paired_folder(aligned_folder(tmp_path / "pairs"))
    whole = next(dataset.batches(4, torch.Generator().manual_seed(1), start=2))
    halves = [next(dataset.batches(4, torch.Generator().manual_seed(1), start=2, rows=rows))
              for rows in ((0, 2), (2, 4))]
    assert torch.equal(torch.cat([h[0] for h in halves]), whole[0])
    assert torch.equal(torch.cat([h[1] for h in halves]), whole[1])


def test_pairs_are_resized_to_load_size_and_cropped(tmp_path: Path) -> None:
    """Non-square AB images (a 20x10 pair of halves) are warped to load_size squared as pix2pix does, then cut."""
    for i in range(3):
        save(np.random.default_rng(i).integers(0, 256, (10, 40, 3), dtype=np.uint8), tmp_path / "train" / f"{i}.jpg")
    save(np.zeros((10, 40, 3), np.uint8), tmp_path / "val" / "0.jpg")
    dataset = paired_folder(tmp_path, "dataset.load_size=16", "dataset.crop_size=12", "dataset.channels=1")
    assert dataset.images.shape == (3, 2, 16, 16) and dataset.images.dtype == torch.uint8
    target, source = next(dataset.batches(3, torch.Generator().manual_seed(0)))
    assert target.shape == source.shape == (3, 1, 12, 12) and -1 <= target.min() and target.max() <= 1
    assert dataset.held_out()[0].shape == (1, 1, 12, 12)


def refusal(root: Path, *overrides: str) -> str:
    with pytest.raises(UserError) as error:
        paired_folder(root, *overrides)
    message = str(error.value)
    assert "\n" not in message and "Fix:" in message  # one paragraph that says what to do
    return message


def test_a_folder_that_is_not_paired_is_refused(tmp_path: Path) -> None:
    for i in range(3):  # a plain image folder, as dataset=image_folder reads
        save(picture(i), tmp_path / "plain" / f"{i}.png")
    save(picture(9), tmp_path / "plain" / "cats" / "9.png")
    message = refusal(tmp_path / "plain")
    assert "is not a paired dataset" in message and "no train/ subfolder and no A/ and B/" in message
    assert "3 images and the subfolders cats" in message and "dataset=image_folder" in message
    only_a = tmp_path / "only_a"
    save(picture(0), only_a / "A" / "train" / "0.png")
    assert "the subfolders A" in refusal(only_a)
    assert "does not exist" in refusal(tmp_path / "nowhere")


def test_missing_partners_are_named_and_counted(tmp_path: Path) -> None:
    root = two_folders(tmp_path / "pairs", train=6)
    for i in (1, 2, 3, 4):
        (root / "B" / "train" / f"{i:03d}.png").unlink()
    save(picture(50), root / "B" / "train" / "stray.png")
    message = refusal(root)
    assert "do not match" in message and str(root / "A" / "train") in message
    assert "4 of the 6 images of A have no partner of the same name in B (001.png, 002.png, 003.png, ...)" in message
    assert "1 of the 3 images of B none in A (stray.png)" in message


def test_an_aligned_image_of_odd_width_is_refused(tmp_path: Path) -> None:
    root = aligned_folder(tmp_path / "pairs")
    save(np.zeros((SIDE, 2 * SIDE + 1, 3), np.uint8), root / "train" / "odd.png")
    message = refusal(root)
    assert "1 of the 7 images" in message and "odd width (odd.png 25x12)" in message and "side by side" in message


@pytest.mark.parametrize("layout, where", [(aligned_folder, "val"), (two_folders, "A/val")])
def test_a_missing_held_out_split_is_refused(tmp_path: Path, layout, where: str) -> None:
    root = layout(tmp_path / "pairs")
    for folder in (root / "val", root / "A" / "val", root / "B" / "val"):
        if folder.is_dir():
            for file in folder.iterdir():
                file.unlink()
            folder.rmdir()
    message = refusal(root)
    assert "has no held-out pairs" in message and "never sees" in message and f"{root / where}" in message


def test_a_pair_of_unequal_sizes_is_refused(tmp_path: Path) -> None:
    root = two_folders(tmp_path / "pairs")
    save(picture(2, side=10), root / "B" / "train" / "002.png")
    message = refusal(root)
    assert "1 of the 6 pairs" in message and "002.png: A 12x12, B 10x10" in message and "same size" in message


def test_bad_options_are_refused(tmp_path: Path) -> None:
    root = aligned_folder(tmp_path / "pairs")
    assert "the direction is AtoB" in refusal(root, "dataset.direction=AB")
    assert "crop_size <= load_size" in refusal(root, "dataset.crop_size=20")


# The embedded digit tasks: mnist_5k's file and split.

@pytest.fixture(scope="module")
def edges():
    return build(make_config("dataset=mnist_edges"), "dataset")


@pytest.fixture(scope="module")
def super_resolution():
    return build(make_config("dataset=mnist_sr"), "dataset")


@pytest.fixture(scope="module")
def held_out_digits() -> torch.Tensor:
    return MNIST5k(train=False, resolution=28).images.float() / 127.5 - 1


def test_digit_tasks_use_mnist_5k_split_and_keep_28x28_targets(edges, super_resolution, held_out_digits) -> None:
    for task, source_shape in ((edges, (1, 28, 28)), (super_resolution, (1, 7, 7))):
        assert task.paired and task.num_classes is None and len(task) == 4500
        assert task.shape == (1, 28, 28) and task.source_shape == source_shape
        sources, targets, labels = task.held_out()
        assert sources.shape == (500, *source_shape) and torch.equal(targets, held_out_digits)
        assert labels.dtype == torch.long and torch.bincount(labels).tolist() == [50] * 10
        target, source = next(task.batches(64, torch.Generator().manual_seed(0)))
        assert target.shape == (64, 1, 28, 28) and source.shape == (64, *source_shape)
        assert target.min() == -1 and target.max() == 1 and -1 <= source.min() and source.max() <= 1


def test_mnist_sr_sources_are_the_4x4_area_averages(super_resolution) -> None:
    target, source = next(super_resolution.batches(32, torch.Generator().manual_seed(1), start=7))
    torch.testing.assert_close(source, F.avg_pool2d(target, 4))
    sources, targets, _ = super_resolution.held_out()
    ink = (targets[:5, 0] + 1) / 2  # [0, 1], averaged by reshaping into 4x4 blocks
    torch.testing.assert_close((sources[:5, 0] + 1) / 2, ink.reshape(5, 7, 4, 7, 4).mean((2, 4)))
    assert len(torch.unique(sources)) > 10  # the exact averages, not thresholded


def test_mnist_edges_are_binary_sobel_edges_above_the_threshold(edges) -> None:
    sources, targets, _ = edges.held_out()
    assert set(torch.unique(sources).tolist()) == {-1.0, 1.0}
    ink = ((targets[:, 0] + 1) / 2).double().numpy()  # scipy's Sobel of each digit, zero beyond the border, / 8
    gradient = np.stack([np.hypot(ndimage.sobel(digit, axis=0, mode="constant"),
                                  ndimage.sobel(digit, axis=1, mode="constant")) / 8 for digit in ink])
    expected = np.where(gradient > 0.25, 1.0, -1.0)
    near = np.abs(gradient - 0.25) < 1e-5  # float32 against float64 may differ right at the threshold
    assert (sources[:, 0].numpy() == expected)[~near].all()
    fraction = (sources == 1).float().mean().item()
    assert 0.05 < fraction < 0.4  # outlines, neither nothing nor everything
    target, source = next(edges.batches(16, torch.Generator().manual_seed(2)))
    assert torch.equal(source, edges.source_of(target))
