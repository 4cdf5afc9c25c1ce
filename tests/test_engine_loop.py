"""engine/loop.py: the periodic tasks (rows, checkpoints kept), a divergence keeps the good checkpoint, SIGTERM
checkpoints and the resumed run logs what the uninterrupted one logs, images seen count every D batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from gan_runner.engine.loop import train
from gan_runner.run_directory import Checkpoint
from tests.conftest import BIN, RING, SHRINK, TINY, losses, make_config, run


def test_sigterm_checkpoints_and_resume_finishes_as_if_never_stopped(tmp_path: Path) -> None:
    """SIGTERM mid-run: status interrupted, exit 128 + 15, a checkpoint; resuming it (with the decaying
    learning rate of ring8 and annealed instance noise) logs exactly what an uninterrupted run logs."""
    args = [*RING, "train.steps=3000", "train.log_every=5", "regulariser=[gp0,instance_noise]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    stopped = tmp_path / "stopped"
    # The uninterrupted run trains beside it, on the other core (each process has one thread).
    whole = subprocess.Popen([str(BIN / "gan-run"), *args, f"hydra.run.dir={tmp_path / 'whole'}"], cwd=tmp_path,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
    _, stderr = whole.communicate(timeout=600)
    assert whole.returncode == 0, stderr[-2000:]
    assert json.loads((stopped / "summary.json").read_text())["status"] == "completed"
    assert losses(stopped) == losses(tmp_path / "whole")


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


def test_a_diverged_run_names_one_step_the_one_it_stopped_at(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The weights overflow at step 1; the statistics are checked at the log row of step 10, where the run stops: the
    log, the console's closing line and summary.json all say step 10 (and since when the values were bad)."""
    import logging

    with caplog.at_level(logging.INFO):
        summary = train(make_config(*RING, "objective=wgan", "regulariser=none", "train.steps=40",
                                    "train.log_every=10", "train.lr_d=1e30", "train.lr_g=1e30"), tmp_path)
    assert summary["status"] == "diverged"
    assert summary["step"] == summary["diverged"]["step"] == 10
    assert summary["diverged"]["first_bad_step"] <= 10
    (message,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Diverged")]
    assert message.startswith("Diverged: stopped at step 10, where loss/")
    assert json.loads((tmp_path / "summary.json").read_text())["diverged"]["step"] == 10


def test_images_seen_counts_every_discriminator_batch_and_survives_resume(tmp_path: Path) -> None:
    from gan_runner.run_directory import Checkpoint
    from gan_runner.engine.loop import train

    common = [*SHRINK, "dataset=ring8", *TINY, "train.n_critic=3", "train.batch_size=8"]
    train(make_config(*common, "train.steps=2"), tmp_path)
    train(make_config(*common, "train.steps=4"), tmp_path, resume=Checkpoint.load(tmp_path / "checkpoints" / "last.pt"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["images_seen"] for r in rows] == [24, 48, 72, 96]
    assert json.loads((tmp_path / "summary.json").read_text())["images_seen"] == 96


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_conditional_run_trains_checkpoints_and_resumes_on_cuda(tmp_path: Path) -> None:
    from gan_runner.run_directory import Checkpoint

    common = [*(o for o in SHRINK if not o.startswith("train.device")), "train.device=cuda", "arch=resnet",
              *TINY, "dataset=digits", "conditional=true", "objective=hinge",
              "regulariser=[spectral_norm,r1]", "train.ema=0.9"]
    whole = train(make_config(*common, "train.steps=4"), tmp_path / "whole")
    assert whole["status"] == "completed" and whole["device"] == "cuda"
    train(make_config(*common, "train.steps=2"), tmp_path / "parts")
    resumed = make_config(*common, "train.steps=4")
    train(resumed, tmp_path / "parts", resume=Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt"))
    a = Checkpoint.load(tmp_path / "whole" / "checkpoints" / "last.pt").state
    b = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt").state
    for key in a["G_ema"]:  # cuDNN may pick other algorithms between processes' runs: close, not bit-equal
        torch.testing.assert_close(a["G_ema"][key], b["G_ema"][key], rtol=1e-4, atol=1e-5, msg=key)
    assert (tmp_path / "parts" / "samples" / "step_000004.png").is_file()
