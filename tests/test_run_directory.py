"""run_directory.py, the run directory's format: checkpoints open with weights_only (a crafted one refused
unopened), are written atomically, a bad one is named and left untouched; files of earlier versions upgrade."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_runner.commands.sample import load_generator
from gan_runner.engine.loop import train
from gan_runner.engine.sampling import draw
from gan_runner.engine.state import restore_rng
from gan_runner.errors import UserError
from gan_runner.regularisers.gradient_penalty import PerturbedReal
from gan_runner.run_directory import (FORMAT_VERSION, Checkpoint, RunDirectory, UnsafeCheckpoint, read_safely,
                                      statistic_section, upgrade)
from tests.conftest import REPO, SHRINK, TINY, make_config, run




class Payload:
    """What a crafted checkpoint can hide: unpickling it calls open(marker, "w")."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_holding_a_pickled_callable_is_refused_unopened(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    run = tmp_path / "shared-run"
    (run / "checkpoints").mkdir(parents=True)
    path = run / "checkpoints" / "last.pt"
    torch.save({"G_ema": {}, "config": {}, "data_shape": [2], "surprise": Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpoint, match=r"io\.open"):
        read_safely(path)
    for load in (lambda: load_generator(run), lambda: Checkpoint.load(path)):
        with pytest.raises(UserError, match="Refused to open .*could run arbitrary code"):
            load()
    assert not marker.exists()


def test_checkpoints_hold_only_tensors_and_plain_containers(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "dataset=ring8", *TINY, "regulariser=[spectral_norm,instance_noise]"),
          tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)  # no allow-list at all
    assert state["step"] == 2 and state["regularisers"]["instance_noise"] == {"d_steps": 2}


def test_a_gradient_penalty_saved_by_an_earlier_version_still_builds() -> None:
    # Until 2026-11 conf/regulariser/*.yaml named the points as partial functions; saved runs keep that.
    from hydra.utils import instantiate

    from gan_runner.run_directory import upgrade

    old = {"train": {}, "regulariser": {"dragan": {
        "_target_": "gan_runner.regularisers.gradient_penalty.GradientPenalty", "target": 1.0,
        "points": {"_target_": "gan_runner.regularisers.gradient_penalty.perturbed_real", "_partial_": True,
                   "scale": 0.25}}}}
    penalty = instantiate(upgrade("config", old)["regulariser"]["dragan"])
    assert isinstance(penalty.points, PerturbedReal) and penalty.points.scale == 0.25


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path: Path) -> None:
    last = tmp_path / "checkpoints" / "last.pt"
    Checkpoint({"step": 1, "weights": torch.arange(10.0)}, {}, []).save(last)
    writer = (f"import torch; from pathlib import Path; from gan_runner.run_directory import Checkpoint;"
              f"Checkpoint({{'step': 2, 'weights': torch.ones(150_000_000)}}, {{}}, []).save(Path({str(last)!r}))")
    job = subprocess.Popen([sys.executable, "-c", writer], cwd=REPO)
    temporary = last.with_name(".last.pt.tmp")
    while job.poll() is None and not (temporary.is_file() and temporary.stat().st_size > 1_000_000):
        time.sleep(0.001)
    job.kill()
    job.wait()
    assert temporary.is_file(), "the writer finished before it could be killed mid-write"
    state = read_safely(last)
    assert state["step"] == 1 and torch.equal(state["weights"], torch.arange(10.0))


def corrupt_checkpoint(run_dir: Path) -> Path:
    path = run_dir / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint at all")
    return path


def foreign_checkpoint(run_dir: Path) -> Path:
    path = run_dir / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save({"model": {}}, path)
    return path


@pytest.mark.parametrize("make, message", [(corrupt_checkpoint, "cannot be read"), (foreign_checkpoint, "it lacks")])
def test_a_bad_checkpoint_is_named_and_left_untouched(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "run")
    before = path.read_bytes()
    result = run("gan-run", f"resume={tmp_path / 'run'}", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert path.read_bytes() == before


# A run directory written by main as it was on 2026-12-04, before files said their format_version: ring8's tiny
# MLPs with spectral norm (u and v buffers) and a zero-centred penalty, 20 steps, an evaluation every 10 (best.pt).
OLD_RUN = REPO / "tests" / "fixtures" / "run_2026-12-04"


def test_a_run_directory_of_the_version_before_format_versions_reads_through_upgrade() -> None:
    run_dir = RunDirectory(OLD_RUN)
    assert run_dir.summary["format_version"] == 1 and run_dir.summary["status"] == "completed"
    assert [row["step"] for row in run_dir.rows if "loss/d" in row] == [5, 10, 15, 20]
    assert run_dir.config["train"]["cuda_graph"] is False  # a key it predates, filled in by upgrade
    checkpoint = Checkpoint.load(run_dir.checkpoint("last"))
    assert (checkpoint.format_version, checkpoint.step, checkpoint.state["images_seen"]) == (1, 20, 5120)
    assert checkpoint.identity["choices"]["regulariser"] == "spectral_norm+gp0"
    assert Checkpoint.load(run_dir.checkpoint("best")).step == 10


def test_a_run_of_the_version_before_resumes_samples_and_reports(tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(OLD_RUN, copy)
    G, z_dim = load_generator(copy, "best")
    assert draw(G, z_dim, 7).shape == (7, 2)
    run("gan-run", f"resume={copy}", "train.steps=24", cwd=tmp_path)
    resumed = RunDirectory(copy)
    assert (resumed.summary["format_version"], resumed.summary["status"]) == (FORMAT_VERSION, "completed")
    assert resumed.summary["resumed_from_step"] == 20
    assert [row["step"] for row in resumed.rows if "loss/d" in row] == [5, 10, 15, 20, 24]
    assert Checkpoint.load(resumed.checkpoint()).format_version == FORMAT_VERSION
    run("gan-report", str(copy), f"out={tmp_path / 'report'}", cwd=tmp_path)
    assert "toy/modes_then_quality" in (tmp_path / "report" / "table.md").read_text()


def test_an_earlier_versions_numpy_rng_state_upgrades_to_plain_containers() -> None:
    np.random.seed(3)
    tuple_state = np.random.get_state()
    expected = np.random.rand()
    checkpoint = {"config": {"train": {"batch_size": 4}}, "d_steps": 2,
                  "rng": {"python": random.getstate(), "torch": torch.get_rng_state(), "numpy": tuple_state}}
    upgraded = upgrade("checkpoint", checkpoint)
    assert upgraded["images_seen"] == 8 and upgraded["format_version"] == 1
    np.random.seed(0)
    restore_rng(upgraded["rng"])
    assert np.random.rand() == expected


def test_the_statistics_table_sorts_every_logged_prefix() -> None:
    assert [statistic_section(k) for k in ("loss/d", "reg/gp", "reg_g/orthogonal", "d/margin")] == ["losses"] * 4
    assert [statistic_section(k) for k in ("lr/g", "grad_norm/d", "sigma/G/net.0", "speed/steps_per_s",
                                           "memory/peak_gpu_gb", "amp/skipped_d", "health/diversity")] == \
        ["training"] * 7
    assert statistic_section("digits/frechet") is None and statistic_section("fid10k_train") is None


def test_a_file_system_without_locks_runs_unprotected_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Lustre without -o flock answers flock with an error that is not "held": the run goes on, and says so."""
    import errno

    from gan_runner import run_directory

    def no_locks(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_directory.fcntl, "flock", no_locks)
    run_directory.hold(tmp_path)
    assert not run_directory.holds(tmp_path) and run_directory.holder_elsewhere(tmp_path) is None
    assert "cannot be locked (No locks available)" in caplog.text


# --- a full disk: every file whole or absent, no temporary file left ---------------------------------------

def no_room_after(limit: int):
    """A stand-in for a handle's write on a disk with `limit` bytes left: writes what fits, then fails as a full
    disk does (ENOSPC)."""
    import errno

    written = {"bytes": 0}

    def write(real_write, data) -> int:
        room = limit - written["bytes"]
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        part = bytes(data)[:room]
        written["bytes"] += len(part)
        real_write(part)
        if len(part) < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        return len(part)

    return write


class FillingDisk:
    """A file handle on a disk with `room` bytes left: its writes fail as a full disk's do, after what fits."""

    def __init__(self, handle, room: int) -> None:
        fill = no_room_after(room)
        self.handle, self.write = handle, lambda data: fill(handle.write, data)

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exception) -> None:
        self.handle.close()


def test_a_row_that_cannot_be_written_whole_is_not_written_at_all(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """metrics.jsonl is appended to: a row cut by a full disk is taken back, so the next row does not join it."""
    import errno
    import json
    import os

    import gan_runner.run_directory as run_directory

    directory = RunDirectory(tmp_path)
    directory.append_row({"step": 1, "loss/d": 1.0})
    before = directory.metrics_file.read_bytes()
    fill = no_room_after(10)
    real_write = os.write
    monkeypatch.setattr(run_directory.os, "write",
                        lambda fd, data: fill(lambda part: real_write(fd, part), data), raising=True)
    with pytest.raises(OSError) as failed:
        directory.append_row({"step": 2, "loss/d": 0.5, "padding": "x" * 100})
    assert failed.value.errno == errno.ENOSPC
    assert directory.metrics_file.read_bytes() == before
    monkeypatch.undo()
    directory.append_row({"step": 3, "loss/d": 0.25})  # once there is room again
    assert [json.loads(line)["step"] for line in directory.metrics_file.read_text().splitlines()] == [1, 3]


def test_resume_drops_a_row_cut_short_by_a_kill(tmp_path: Path) -> None:
    directory = RunDirectory(tmp_path)
    directory.metrics_file.write_text('{"step": 1, "loss/d": 1.0}\n{"step": 2, "loss/d": 0.9}\n{"step": 3, "lo')
    directory.truncate_rows_after(2)
    assert directory.metrics_file.read_text() == '{"step": 1, "loss/d": 1.0}\n{"step": 2, "loss/d": 0.9}\n'
    assert [row["step"] for row in RunDirectory(tmp_path).rows] == [1, 2]


@pytest.mark.parametrize("what", ["summary", "picture", "checkpoint"])
def test_a_file_the_disk_has_no_room_for_leaves_the_old_one_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    """summary.json, a sample picture, a checkpoint: a write that fails for want of room leaves the previous
    file as it was and no temporary file, and says which file could not be written (ENOSPC, also when torch's zip
    writer reports it as a RuntimeError)."""
    import errno
    import json

    import gan_runner.run_directory as run_directory
    from gan_runner.pictures import save_png

    directory = RunDirectory(tmp_path)
    writes = {
        "summary": (directory.summary_file, lambda n: directory.write_summary({"status": "completed", "step": n,
                                                                              "notes": "x" * 10_000})),
        "picture": (tmp_path / "samples" / "step_000001.png",
                    lambda n: save_png(np.random.default_rng(n).integers(0, 255, (64, 64, 3), dtype=np.uint8),
                                       tmp_path / "samples" / "step_000001.png")),
        "checkpoint": (directory.checkpoint(), lambda n: Checkpoint({"step": n, "w": torch.randn(10_000)}, {}, [])
                       .save(directory.checkpoint())),
    }
    path, write = writes[what]
    write(1)
    before = path.read_bytes()
    monkeypatch.setattr(run_directory, "open", lambda *args, **kwargs: FillingDisk(open(*args, **kwargs), 100),
                        raising=False)  # the module's files; Python's own open everywhere else
    with pytest.raises(OSError) as failed:
        write(2)
    monkeypatch.undo()
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    if what == "summary":
        assert json.loads(path.read_text())["step"] == 1
