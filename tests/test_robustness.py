"""Runs survive interruption, divergence and bad input: resume exactness, atomic checkpoints, signals,
divergence, sweeps that go on, and one paragraph for every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_runner.run_directory import Checkpoint, read_safely
from gan_runner.errors import UserError
from gan_runner.loggers.wandb_logger import WandbLogger
from gan_runner.engine.loop import train
from gan_runner.study.identity import RunIdentity
from tests.conftest import REPO, TINY, make_config, metric_rows
from tests.test_cli import BIN, run

RING = ["dataset=ring8", "logger=none", "metrics=none", "train.device=cpu", "train.batch_size=32",
        *TINY]


def losses(run_dir: Path) -> list[dict]:
    return [row for row in metric_rows(run_dir) if "loss/d" in row]


def test_resume_with_more_steps_gives_the_losses_of_an_uninterrupted_run(tmp_path: Path) -> None:
    # Images with batch norm, a stateful regulariser (annealed instance noise) and the data order.
    common = ["dataset=digits", "logger=none", "metrics=none", "train.device=cpu", "train.batch_size=16",
              "train.log_every=1", "train.checkpoint_every=3", "regulariser=[gp0,instance_noise]",
              "regulariser.instance_noise.anneal_steps=10", *TINY]
    train(make_config(*common, "train.steps=8"), tmp_path / "whole")
    train(make_config(*common, "train.steps=5"), tmp_path / "parts")
    state = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    summary = train(make_config(*common, "train.steps=8"), tmp_path / "parts", resume=state)
    assert summary["status"] == "completed" and summary["resumed_from_step"] == 5
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")
    assert [row["step"] for row in losses(tmp_path / "parts")] == list(range(1, 9))


def test_sigterm_checkpoints_and_resume_finishes_as_if_never_stopped(tmp_path: Path) -> None:
    """SIGTERM mid-run: status interrupted, exit 128 + 15, a checkpoint; resuming it (with the decaying
    learning rate of ring8 and annealed instance noise) logs exactly what an uninterrupted run logs."""
    args = [*RING, "train.steps=3000", "train.log_every=5", "regulariser=[gp0,instance_noise]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    stopped = tmp_path / "stopped"
    job = subprocess.Popen([str(BIN / "gan-run"), *args, f"hydra.run.dir={stopped}"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (stopped / "metrics.jsonl").is_file() and time.time() < deadline:
        time.sleep(0.1)
    job.send_signal(signal.SIGTERM)
    sent = time.time()
    _, stderr = job.communicate(timeout=60)
    assert time.time() - sent < 30
    assert job.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert 0 < summary["step"] < 3000
    assert Checkpoint.load(stopped / "checkpoints" / "last.pt").state["step"] == summary["step"]

    run("gan-run", f"resume={stopped}", cwd=tmp_path)
    run("gan-run", *args, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert json.loads((stopped / "summary.json").read_text())["status"] == "completed"
    assert losses(stopped) == losses(tmp_path / "whole")


def test_resume_auto_starts_fresh_then_continues(tmp_path: Path) -> None:
    job = [*RING, "resume=auto", f"hydra.run.dir={tmp_path / 'job'}"]
    run("gan-run", *job, "train.steps=4", cwd=tmp_path)
    assert json.loads((tmp_path / "job" / "summary.json").read_text())["step"] == 4
    run("gan-run", *job, "train.steps=6", cwd=tmp_path)  # the requeued job, here given more steps
    summary = json.loads((tmp_path / "job" / "summary.json").read_text())
    assert summary["step"] == 6 and summary["resumed_from_step"] == 4


def test_resume_continues_the_wandb_run(tmp_path: Path) -> None:
    common = [arg.replace("logger=none", "logger=wandb") for arg in RING] + ["train.log_every=1"]
    first = train(make_config(*common, "train.steps=2"), tmp_path)
    second = train(make_config(*common, "train.steps=4"), tmp_path,
                   resume=Checkpoint.load(tmp_path / "checkpoints" / "last.pt"))
    assert second["wandb"]["id"] == first["wandb"]["id"]
    assert len(list((tmp_path / "wandb").glob(f"offline-run-*-{first['wandb']['id']}"))) == 2


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


def test_keep_checkpoints_keeps_the_latest_k(tmp_path: Path) -> None:
    train(make_config(*RING, "train.steps=10", "train.checkpoint_every=2", "train.keep_checkpoints=3"), tmp_path)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*.pt"))
    assert kept == ["step_000006.pt", "step_000008.pt", "step_000010.pt"]
    assert Checkpoint.load(tmp_path / "checkpoints" / "last.pt").state["step"] == 10
    assert Checkpoint.load(tmp_path / "checkpoints" / "step_000008.pt").state["step"] == 8


def test_divergence_stops_with_its_cause_and_keeps_the_good_checkpoint(tmp_path: Path) -> None:
    common = [*RING, "objective=wgan", "regulariser=none", "train.checkpoint_every=5"]
    train(make_config(*common, "train.steps=5"), tmp_path)
    last = tmp_path / "checkpoints" / "last.pt"
    good = last.read_bytes()
    # A learning rate of 1e30 sends the weights to ~1e30: the critic's scores overflow within a step or two.
    summary = train(make_config(*common, "train.steps=20", "train.lr_d=1e30", "train.lr_g=1e30"), tmp_path,
                    resume=Checkpoint.load(last))
    assert summary["status"] == "diverged"
    assert summary["diverged"]["quantity"].startswith("loss/") and summary["diverged"]["value"] in ("nan", "inf", "-inf")
    assert 5 < summary["diverged"]["step"] <= 20
    assert last.read_bytes() == good
    assert Checkpoint.load(last).state["step"] == 5


def test_a_sweep_goes_on_after_a_divergence_and_says_how_each_job_ended(tmp_path: Path) -> None:
    result = run("gan-run", "-m", *RING, "objective=wgan", "regulariser=none", "train.steps=3",
                 "train.lr_d=1e30,1e-3", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    lines = (tmp_path / "sweep" / "summary.txt").read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("0_") and "diverged at step" in lines[0]
    assert lines[1].startswith("1_") and "completed at step 3" in lines[1]
    assert "completed at step 3" in result.stderr + result.stdout


def test_wandb_unreachable_online_falls_back_to_offline_at_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    logger = WandbLogger()
    started = time.time()
    logger.start({"x": 1}, tmp_path, RunIdentity("unreachable"))
    assert time.time() - started < 30
    assert logger.finish()["mode"] == "offline"


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


@pytest.mark.parametrize(
    "args, message",
    [
        (["train.stepz=5"], "train.stepz is not a key of the config: did you mean train.steps?"),
        (["+train.stepz=5"], "train.stepz is not a key of train: did you mean train.steps?"),
        (["train.steps=-3"], "train.steps must be a positive whole number"),
        (["train.steps=many"], "train.steps=many: Value 'many' of type 'str' could not be converted to Integer"),
        (["train.lr_d=fast"], "train.lr_d must be a positive number"),
        (["train.betas=0.5"], "train.betas must be Adam's two decay rates"),
        (["hydra.run.dir=/dev/null/run"], "/dev/null is a file, not a folder"),
        (["resume=nowhere"], "there is no checkpoint at"),
    ],
)
def test_bad_values_get_one_paragraph(tmp_path: Path, args: list[str], message: str) -> None:
    """... and a run that never took a step leaves nothing on disk (resume=nowhere: not even nowhere/)."""
    result = run("gan-run", *RING, *args, cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []


@pytest.mark.parametrize("make, message", [(corrupt_checkpoint, "cannot be read"), (foreign_checkpoint, "it lacks")])
def test_a_bad_checkpoint_is_named_and_left_untouched(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "run")
    before = path.read_bytes()
    result = run("gan-run", f"resume={tmp_path / 'run'}", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert path.read_bytes() == before


def test_an_incompatible_checkpoint_is_refused_in_one_paragraph(tmp_path: Path) -> None:
    train(make_config(*RING, "train.steps=2"), tmp_path)
    with pytest.raises(UserError, match="does not fit this configuration"):
        train(make_config(*RING, "train.steps=4", "arch.discriminator.width=32"), tmp_path,
              resume=Checkpoint.load(tmp_path / "checkpoints" / "last.pt"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_dataset_folder_gets_one_paragraph(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    folder.chmod(0)
    try:
        result = run("gan-run", "dataset=image_folder", f"dataset.root={folder}", "logger=none", cwd=tmp_path,
                     check=False)
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2 and "Traceback" not in result.stderr
