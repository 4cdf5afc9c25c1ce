"""The input pipeline over prepared copies (issue 34 item 3): parallel decoding workers write the bytes one process
writes, a mirror option whose flips resume exactly, labels from stylegan2-ada's dataset.json, each torchrun process
gathering only its own rows of the global batch, memory maps kept on the host of a CUDA run, and the small in-memory
datasets' losses unchanged."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_runner.data import MAPPED_ON_DEVICE_BYTES, ImageTensorDataset
from gan_runner.data.image_folder import ImageFolder
from gan_runner import distributed
from gan_runner.engine.build import process_batches
from gan_runner.engine.loop import train
from gan_runner.run_directory import Checkpoint
from tests.conftest import SHRINK, TINY, losses, make_config
from tests.test_data_prepared import make_images, prepare_command


def test_worker_processes_prepare_the_bytes_one_process_prepares(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    make_images(tmp_path / "images")
    with caplog.at_level(logging.INFO):
        status, output = prepare_command(str(tmp_path / "images"), str(tmp_path / "two"), "resolution=16",
                                         "workers=2", capsys=capsys)
    assert status == 0 and "12 images" in output and "2 process(es)" in caplog.text
    one = ImageFolder(str(tmp_path / "images"), resolution=16, prepared_dir=tmp_path / "one", workers=1)
    (two,) = (tmp_path / "two").iterdir()
    assert (two / "images.npy").read_bytes() == (one.prepared / "images.npy").read_bytes()
    assert json.loads((two / "index.json").read_text()) == json.loads((one.prepared / "index.json").read_text())
    status, output = prepare_command(str(tmp_path / "images"), str(tmp_path / "x"), "resolution=8", "workers=0",
                                     capsys=capsys)
    assert status == 2 and "workers" in output and "Traceback" not in output


def test_mirror_flips_half_the_drawn_images_and_resumes_exactly(tmp_path: Path) -> None:
    make_images(tmp_path / "images")
    plain = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep")
    mirrored = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep", mirror=True)
    flipped = same = 0
    for (x, _), (x_plain, _) in zip(mirrored.batches(4, torch.Generator().manual_seed(1)),
                                    plain.batches(4, torch.Generator().manual_seed(1))):
        is_flipped = (x == x_plain.flip(-1)).flatten(1).all(1)
        assert (is_flipped | (x == x_plain).flatten(1).all(1)).all()  # each image as it is, or mirrored
        flipped, same = flipped + int(is_flipped.sum()), same + int((~is_flipped).sum())
        if flipped + same >= 48:
            break
    assert 12 <= flipped <= 36 and same >= 12
    # A run resumed mid-epoch (3 batches of 4 an epoch; stopped after 2 steps) logs the uninterrupted run's losses.
    common = [*SHRINK, *TINY, "dataset=image_folder", f"dataset.root={tmp_path / 'images'}", "dataset.resolution=8",
              f"dataset.prepared_dir={tmp_path / 'prep'}", "dataset.mirror=true", "train.batch_size=4"]
    train(make_config(*common, "train.steps=5"), tmp_path / "whole")
    train(make_config(*common, "train.steps=2"), tmp_path / "parts")
    state = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    train(make_config(*common, "train.steps=5"), tmp_path / "parts", resume=state)
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole") and len(losses(tmp_path / "whole")) == 5
    without = [*common[:-2], "train.batch_size=4"]
    train(make_config(*without, "train.steps=5"), tmp_path / "plain")
    assert losses(tmp_path / "plain") != losses(tmp_path / "whole")  # the flips reached the run


def flat_images(folder: Path, n: int) -> list[str]:
    """n small PNGs directly in `folder` (as stylegan2-ada's dataset_tool writes them, under 00000/), their names."""
    rng = np.random.default_rng(1)
    names = []
    for i in range(n):
        name = f"00000/img{i:08d}.png"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def test_labels_come_from_stylegan2_adas_dataset_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = flat_images(tmp_path / "images", 6)
    labels = [2, 0, 1, 2, 0, 1]
    (tmp_path / "images" / "dataset.json").write_text(json.dumps({"labels": [[n, k] for n, k in zip(names, labels)]}))
    dataset = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep")
    assert dataset.labels.tolist() == labels and dataset.num_classes == 3 and dataset.classes == ["0", "1", "2"]
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:  # a zip, as dataset_tool's --dest=x.zip
        for name in [*names, "dataset.json"]:
            archive.write(tmp_path / "images" / name, name)
    zipped = ImageFolder(str(tmp_path / "images.zip"), resolution=8, prepared_dir=tmp_path / "prep")
    assert zipped.labels.tolist() == labels and torch.equal(zipped.images, dataset.images)
    summary = train(make_config(*SHRINK, *TINY, "dataset=image_folder", f"dataset.root={tmp_path / 'images'}",
                                "dataset.resolution=8", "conditional=true", "train.batch_size=4"), tmp_path / "run")
    assert summary["status"] == "completed"
    # Changed labels are noticed (the file is part of the fingerprint); "labels": null means none.
    (tmp_path / "images" / "dataset.json").write_text(json.dumps({"labels": None}))
    assert ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep").labels is None
    (tmp_path / "images" / "dataset.json").write_text(json.dumps({"labels": [[names[0], 1]]}))
    status, output = prepare_command(str(tmp_path / "images"), str(tmp_path / "prep"), "resolution=8", capsys=capsys)
    assert status == 2 and "5 of the 6 images have no label (00000/img00000001.png" in output
    assert "dataset_tool" in output and "Traceback" not in output


class Recorded:
    """A prepared copy's reader whose gathers are recorded: which rows a process reads."""

    def __init__(self, reader: object) -> None:
        self.reader, self.read = reader, []

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        self.read.extend(index.tolist())
        return self.reader[index]


def test_each_process_gathers_only_its_rows_of_the_global_batch(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    make_images(tmp_path / "images")
    dataset = ImageFolder(str(tmp_path / "images"), resolution=8, prepared_dir=tmp_path / "prep", mirror=True)
    whole = [batch for batch, _ in zip(dataset.batches(6, torch.Generator().manual_seed(3), 1), range(3))]
    shares, reader = [], dataset.reader
    for rank in (0, 1):
        monkeypatch.setattr(distributed, "rank", lambda: rank)
        monkeypatch.setattr(distributed, "size", lambda: 2)
        monkeypatch.setattr(dataset, "reader", Recorded(reader))
        batches = process_batches(dataset, 6, torch.Generator().manual_seed(3), 1, torch.device("cpu"))
        shares.append([next(batches) for _ in range(3)])
        assert len(dataset.reader.read) == 9  # 3 of each 6: its own rows, never the other process's
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *shares):
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)


def test_batches_read_their_own_bytes_of_the_copy_without_mapping_it(tmp_path: Path) -> None:
    make_images(tmp_path / "images", n=64)
    dataset = ImageFolder(str(tmp_path / "images"), resolution=64, prepared_dir=tmp_path / "prep")  # 12 KB an image

    def mapped_kb() -> int:  # resident pages of the copy's file in this process
        text = Path("/proc/self/smaps").read_text()
        blocks = text.split(str(dataset.prepared / "images.npy"))[1:]
        return sum(int(block.split("Rss:")[1].split()[0]) for block in blocks)

    batches = dataset.batches(8, torch.Generator().manual_seed(0))
    for (x, _), index in zip(batches, range(4)):
        assert x.shape == (8, 3, 64, 64)
    assert mapped_kb() == 0
    order = torch.randperm(128, generator=torch.Generator().manual_seed(0))[:8]
    assert torch.equal(dataset.reader[order], dataset.images[order])  # the bytes the memory map holds


def test_a_memory_map_stays_on_the_host_of_a_cuda_run_unless_small() -> None:
    big = torch.zeros(1, 1, 1, 1, dtype=torch.uint8).expand(MAPPED_ON_DEVICE_BYTES + 1, 1, 1, 1)
    free = 80 << 30  # an H100's free memory: a quarter of it would take 20 GB
    assert ImageTensorDataset(big, None, None).fits_on_device(free)  # in memory already: indexed on the device
    assert not ImageTensorDataset(big, None, None, reader=big).fits_on_device(free)  # would read it all
    small = torch.zeros(1000, 1, 8, 8, dtype=torch.uint8)
    assert ImageTensorDataset(small, None, None, reader=small).fits_on_device(free)
    assert not ImageTensorDataset(small, None, None).fits_on_device(1000 * 64 * 4 - 1)


# Losses of 4 steps of `SHRINK + TINY + dataset=...`, recorded on main (2026-12-06, before this pipeline's changes to
# the datasets' batches), one CPU thread: the in-memory datasets must give the same.
MAIN_LOSSES = {
    "digits": [(1.3839004039764404, 0.6934306621551514), (1.3832945823669434, 0.693476676940918),
               (1.383087158203125, 0.693841278553009), (1.3822603225708008, 0.6937361359596252)],
    "ring8": [(1.3939493894577026, 0.6108995079994202), (1.3876014947891235, 0.6141402721405029),
              (1.3858758211135864, 0.6158693432807922), (1.3869006633758545, 0.6173369288444519)],
}


@pytest.mark.parametrize("dataset", sorted(MAIN_LOSSES))
def test_in_memory_datasets_give_the_losses_they_gave_before(tmp_path: Path, dataset: str) -> None:
    train(make_config(*SHRINK, *TINY, f"dataset={dataset}", "train.steps=4"), tmp_path)
    got = [value for row in losses(tmp_path) for value in (row["loss/d"], row["loss/g"])]
    assert got == pytest.approx([value for pair in MAIN_LOSSES[dataset] for value in pair], rel=1e-6)
