"""Prepared copies of image folders (gan_runner/data/prepared.py): made by gan-prepare or on first use from real PNG
and JPEG files and zips, read back batch for batch as the in-memory decode of the same images, noticed when their
source changes, and bad data (empty, not images, truncated, a full disk) answered with one paragraph and nothing
half-written left."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_runner.commands.prepare import main as gan_prepare
from gan_runner.data import ImageTensorDataset, to_uint8_images
from gan_runner.data import prepared
from gan_runner.data.image_folder import ImageFolder, ImageSource, read_image
from gan_runner.engine.loop import train
from tests.conftest import SHRINK, TINY, make_config, run


def make_images(folder: Path, n: int = 6) -> list[Path]:
    """n images a class in two class folders, in PNG and JPEG, of different sizes and modes (RGB, grey, palette,
    RGBA), with random pixels."""
    rng = np.random.default_rng(0)
    paths = []
    for number in range(2 * n):
        kind = number % 4
        size = (20 + 3 * number, 16 + 2 * number)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        image = [image, image.convert("L"), image.convert("P"), image.convert("RGBA")][kind]
        path = folder / ("cats" if number < n else "dogs") / f"{number:02d}.{'jpg' if kind == 1 else 'png'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        paths.append(path)
    return sorted(paths)


def decoded_in_memory(paths: list[Path], resolution: int, channels: int) -> torch.Tensor:
    """What the in-memory image folder held: each file decoded by PIL, resized and cropped, one by one."""
    mode = "L" if channels == 1 else "RGB"
    return torch.cat([to_uint8_images(read_image(p, mode).float()[None] / 255.0, resolution, channels) for p in paths])


def prepare_command(*args: str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """gan-prepare's main() as the command line runs it: (exit status, stdout and stderr)."""
    try:
        gan_prepare(list(args))
        status = 0
    except SystemExit as exit:
        status = exit.code
    captured = capsys.readouterr()
    return status, captured.out + captured.err


@pytest.mark.parametrize("channels", [3, 1])
def test_prepared_batches_equal_the_in_memory_decode(tmp_path: Path, channels: int) -> None:
    paths = make_images(tmp_path / "images")
    dataset = ImageFolder(str(tmp_path / "images"), resolution=16, channels=channels, prepared_dir=tmp_path / "prep")
    expected = ImageTensorDataset(decoded_in_memory(paths, 16, channels), torch.tensor([0] * 6 + [1] * 6), 2)
    assert torch.equal(dataset.images, expected.images) and dataset.classes == ["cats", "dogs"]
    for start in (0, 5):  # an epoch is 3 batches of 4: batch 5 is in the second epoch, as a resumed run starts it
        ours, theirs = dataset.batches(4, torch.Generator().manual_seed(7), start), \
            expected.batches(4, torch.Generator().manual_seed(7), start)
        for _ in range(4):
            (x, y), (x_expected, y_expected) = next(ours), next(theirs)
            assert torch.equal(x, x_expected) and torch.equal(y, y_expected)


def test_the_prepared_images_are_a_memory_map_of_the_copy(tmp_path: Path) -> None:
    make_images(tmp_path / "images")
    dataset = ImageFolder(str(tmp_path / "images"), resolution=16, prepared_dir=tmp_path / "prep")
    mapped = [line.split()[0] for line in Path("/proc/self/maps").read_text().splitlines()
              if line.endswith(str(dataset.prepared / "images.npy"))]
    address = dataset.images.data_ptr()
    assert any(int(start, 16) <= address < int(end, 16) for start, end in (m.split("-") for m in mapped))


def test_a_zip_of_images_is_prepared_as_the_folder(tmp_path: Path) -> None:
    paths = make_images(tmp_path / "images")
    with zipfile.ZipFile(tmp_path / "images.zip", "w", zipfile.ZIP_STORED) as archive:
        for path in paths:
            archive.write(path, path.relative_to(tmp_path / "images").as_posix())
        archive.writestr("README.txt", "not an image, and not read")
    from_zip = ImageFolder(str(tmp_path / "images.zip"), resolution=16, prepared_dir=tmp_path / "prep")
    from_folder = ImageFolder(str(tmp_path / "images"), resolution=16, prepared_dir=tmp_path / "prep")
    assert from_zip.prepared != from_folder.prepared and len(from_zip) == 12
    assert torch.equal(from_zip.images, from_folder.images) and torch.equal(from_zip.labels, from_folder.labels)


def test_gan_prepare_then_gan_run_reads_the_copy(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    make_images(tmp_path / "images")
    result = run("gan-prepare", str(tmp_path / "images"), str(tmp_path / "prep"), "resolution=8", cwd=tmp_path)
    (copy,) = (tmp_path / "prep").iterdir()
    assert f"12 images of {tmp_path / 'images'} ready at {copy}" in result.stdout
    assert "Of the 12 images, 9 were converted to RGB (L: 3, P: 3, RGB: 3, RGBA: 3) and 12 resized to 8x8 (12 " \
           "different sizes)" in result.stderr
    assert json.loads((copy / "index.json").read_text())["count"] == 12
    written = (copy / "images.npy").stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        summary = train(make_config(*SHRINK, *TINY, "dataset=image_folder", f"dataset.root={tmp_path / 'images'}",
                                    f"dataset.prepared_dir={tmp_path / 'prep'}", "dataset.resolution=8",
                                    "conditional=true"), tmp_path / "run")
    assert summary["status"] == "completed" and summary["step"] == 2
    assert "Prepared" not in caplog.text and (copy / "images.npy").stat().st_mtime_ns == written  # read, not remade
    status, output = prepare_command(str(tmp_path / "images"), str(tmp_path / "prep"), "resolution=8", capsys=capsys)
    assert status == 0 and "12 images" in output and list((tmp_path / "prep").iterdir()) == [copy]


def test_first_use_prepares_in_the_cache_and_says_where(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_images(tmp_path / "images", n=2)
    with caplog.at_level(logging.INFO):
        dataset = ImageFolder(str(tmp_path / "images"), resolution=8)
    assert dataset.prepared.parent == Path(os.environ["GAN_RUNNER_CACHE"]) / "prepared"
    assert f"Prepared 4 images of {tmp_path / 'images'} at 8x8, 3 channel(s), in {dataset.prepared} (" in caplog.text
    assert ImageFolder(str(tmp_path / "images"), resolution=16).prepared != dataset.prepared  # keyed by resolution
    assert ImageFolder(str(tmp_path / "images"), resolution=8, channels=1).prepared != dataset.prepared


def test_a_changed_source_is_noticed_and_prepared_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = make_images(tmp_path / "images", n=2)
    before = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep")
    old_images = before.images.clone()
    Image.new("RGB", (9, 9), (255, 255, 255)).save(paths[0])  # an image replaced
    Image.new("RGB", (9, 9), (0, 0, 0)).save(tmp_path / "images" / "dogs" / "new.png")  # and one added
    with caplog.at_level(logging.INFO):
        after = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep")
    assert f"The prepared copy {after.prepared} is of {tmp_path / 'images'} as it was before" in caplog.text
    assert "preparing it again" in caplog.text and after.prepared == before.prepared
    assert len(after) == 5 and after.images[0].min() == 255 and torch.equal(after.images[1:4], old_images[1:])
    assert [p.name for p in (tmp_path / "prep").iterdir()] == [after.prepared.name]  # no stale copy left


@pytest.mark.parametrize("make, message", [
    (lambda folder: None, "holds no images: it is empty"),
    (lambda folder: [(folder / name).write_text("x") for name in ("a.txt", "b.csv", "c.json", "d.toml")],
     "holds no images: none of its 4 files (a.txt, b.csv, c.json, ...) has an image suffix"),
    (lambda folder: (folder / "photo.jpg").write_text("this is no JPEG"),
     "Could not decode the image {folder}/photo.jpg: cannot identify image file"),
    (lambda folder: Image.new("RGB", (64, 64)).save(folder / "cut.png") or
     (folder / "cut.png").write_bytes((folder / "cut.png").read_bytes()[:-40]),
     "Could not decode the image {folder}/cut.png"),
], ids=["empty", "not-images", "not-a-jpeg", "truncated"])
def test_bad_data_gets_one_paragraph_and_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                        make: object, message: str) -> None:
    folder = tmp_path / "images"
    make_images(folder, n=1) if "decode" in message else None  # a good image or two beside the bad one
    folder.mkdir(exist_ok=True)
    make(folder)
    status, output = prepare_command(str(folder), str(tmp_path / "prep"), "resolution=8", capsys=capsys)
    assert status == 2 and output.startswith("gan-prepare: error: ") and "Traceback" not in output
    assert message.format(folder=folder) in output and "Fix:" in output
    assert not (tmp_path / "prep").exists() or list((tmp_path / "prep").iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MB file system (tmpfs), as full as a disk gets."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize("seen_before", [True, False], ids=["free-space-checked", "filled-while-writing"])
def test_a_full_disk_during_prepare_leaves_nothing(tmp_path: Path, small_disk: Path, capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch, seen_before: bool) -> None:
    make_images(tmp_path / "images", n=4)  # 8 images at 256x256 RGB: 1.6 MB
    if not seen_before:  # the disk looks roomy when the prepare starts (another job fills it meanwhile)
        monkeypatch.setattr(prepared.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1 << 40})())
    status, output = prepare_command(str(tmp_path / "images"), str(small_disk / "prep"), "resolution=256",
                                     capsys=capsys)
    assert status == 2 and f"The disk holding {small_disk / 'prep'} has" in output and "Traceback" not in output
    assert "nothing was left half-written" in output and "dataset.prepared_dir" in output
    assert list((small_disk / "prep").iterdir()) == []


def test_an_interrupted_prepare_leaves_nothing_that_looks_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    make_images(tmp_path / "images", n=3)
    resize, calls = prepared.to_training_size, []
    def interrupted(*args: object) -> torch.Tensor:  # Ctrl-C at the fourth image
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return resize(*args)
    monkeypatch.setattr(prepared, "to_training_size", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep")
    assert list((tmp_path / "prep").iterdir()) == []
    monkeypatch.setattr(prepared, "to_training_size", resize)
    # A prepare killed outright (kill -9) leaves its hidden partial folder: never read, removed by the next prepare.
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = prepared.copy_name(ImageSource(tmp_path / "images"), 8, 3)
    leftover = tmp_path / "prep" / f".{name}.partial-{prepared.socket.gethostname()}-{dead.pid}"
    leftover.mkdir()
    (leftover / "index.json").write_text("{}")
    dataset = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep")
    assert len(dataset) == 6 and [p.name for p in (tmp_path / "prep").iterdir()] == [name]


def test_a_copy_another_process_installed_meanwhile_is_kept(tmp_path: Path) -> None:
    make_images(tmp_path / "images", n=1)
    dataset = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep")
    first = (dataset.prepared / "images.npy").stat().st_ino
    prepared.prepare(ImageSource(tmp_path / "images"), 8, 3, dataset.prepared)  # the slower of two at once
    assert (dataset.prepared / "images.npy").stat().st_ino == first
    assert [p.name for p in (tmp_path / "prep").iterdir()] == [dataset.prepared.name]


def test_images_keep_the_order_of_sorted_paths(tmp_path: Path) -> None:
    """The in-memory image folder sorted Paths (folder by folder): a prepared copy keeps that order, and with it a
    seed's batches."""
    for name in ("a-b/x.png", "a/x.png", "a/b/y.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    expected = [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*.png"))]
    assert ImageSource(tmp_path).names == expected == ["a/b/y.png", "a/x.png", "a-b/x.png"]
