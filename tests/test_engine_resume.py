"""engine/resume.py: a resumed run logs the uninterrupted run's losses (batch norm, stateful regularisers, the
data order, conditional runs), resume=auto, the same W&B run, a checkpoint that does not fit refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gan_runner.engine.loop import train
from gan_runner.errors import UserError
from gan_runner.run_directory import Checkpoint
from tests.conftest import RING, SHRINK, TINY, losses, make_config, metric_rows, run


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


def test_an_incompatible_checkpoint_is_refused_in_one_paragraph(tmp_path: Path) -> None:
    train(make_config(*RING, "train.steps=2"), tmp_path)
    with pytest.raises(UserError, match="does not fit this configuration"):
        train(make_config(*RING, "train.steps=4", "arch.discriminator.width=32"), tmp_path,
              resume=Checkpoint.load(tmp_path / "checkpoints" / "last.pt"))


def _rows(run_dir: Path) -> list[dict]:
    return metric_rows(run_dir)


def test_a_conditional_run_resumes_exactly(tmp_path: Path) -> None:
    common = [*SHRINK, "arch=resnet", *TINY, "dataset=digits", "conditional=true", "train.n_critic=2",
              "regulariser=r1"]
    train(make_config(*common, "train.steps=4"), tmp_path / "whole")
    train(make_config(*common, "train.steps=2"), tmp_path / "parts")
    state = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    train(make_config(*common, "train.steps=4"), tmp_path / "parts", resume=state)
    assert _rows(tmp_path / "parts") == _rows(tmp_path / "whole")


def test_resume_from_a_checkpoint_file_continues_in_its_run_directory(tmp_path: Path) -> None:
    """resume=RUN/checkpoints/step_000004.pt: the run continues in RUN from step 4, its later rows logged again."""
    args = [*RING, "train.steps=8", "train.log_every=2", "train.checkpoint_every=2", "train.keep_checkpoints=4"]
    run("gan-run", *args, "hydra.run.dir=whole", cwd=tmp_path)
    run("gan-run", *args, "hydra.run.dir=parts", cwd=tmp_path)
    run("gan-run", "resume=parts/checkpoints/step_000004.pt", cwd=tmp_path)
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")
    summary = json.loads((tmp_path / "parts" / "summary.json").read_text())
    assert (summary["status"], summary["resumed_from_step"], summary["step"]) == ("completed", 4, 8)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["parts", "whole"]
