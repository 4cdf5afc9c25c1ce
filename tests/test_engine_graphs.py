"""engine/graphs.py (train.cuda_graph): refused where a graph cannot record the step; on CUDA a graphed run
equals the eager one row for row, lazy phases get graphs of their own, and a graphed run resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from gan_runner.engine.loop import train
from gan_runner.errors import UserError
from gan_runner.run_directory import Checkpoint
from tests.conftest import SHRINK, TINY, make_config, metric_rows, without_synchronising




def test_a_cuda_graph_is_refused_where_it_cannot_record_the_step(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, *TINY, "train.cuda_graph=true", "train.precision=fp16",
                      "regulariser=[instance_noise]")
    with pytest.raises(UserError) as refused:
        train(cfg, tmp_path)
    message = str(refused.value)
    for reason in ("on cpu", "train.precision=fp16", "regulariser instance_noise", "train.cuda_graph=auto",
                   "or false"):
        assert reason in message, reason
    assert not (tmp_path / "checkpoints").exists()  # refused before any work


def _graph_config(*extra: str, steps: int = 12) -> DictConfig:
    return make_config(*(o for o in SHRINK if not o.startswith(("train.device", "train.steps", "train.sample_every"))),
                       "train.device=cuda", f"train.steps={steps}", "train.sample_every=100", *TINY,
                       "arch.discriminator.norm=layer", *extra)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("n_critic", [1, 2])
def test_a_graphed_run_trains_as_the_eager_one(tmp_path: Path, n_critic: int) -> None:
    # No random draw inside the step (no penalty), so the graph replays the eager run's arithmetic on the same
    # batches and z; the learning rates decay (lr_end_factor), which the graph reads from the GPU each step.
    common = [f"train.n_critic={n_critic}", "train.lr_end_factor=0.1"]
    train(_graph_config(*common), tmp_path / "eager")
    summary = train(_graph_config(*common, "train.cuda_graph=true"), tmp_path / "graphed")
    assert summary["status"] == "completed"
    rows = [metric_rows(tmp_path / run) for run in ("eager", "graphed")]
    assert len(rows[0]) == len(rows[1]) == 12
    for eager, graphed in zip(*rows):
        assert graphed.keys() == eager.keys()
        for key in eager:
            assert graphed[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-6), (eager["step"], key)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_graphed_steps_never_synchronise_and_lazy_phases_resume(tmp_path: Path) -> None:
    from gan_runner.engine.build import build_parts, build_step

    # gp0 every 2 D steps: two phases, two graphs; spectral norm's vectors change in place on each replay.
    extra = ("train.cuda_graph=true", "regulariser=[spectral_norm,gp0]", "regulariser.gp0.every=2")
    cfg = _graph_config(*extra)
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    for _ in range(9):  # each phase: 3 eager steps, then recorded
        step()
    assert len(step.recorded) == 2
    without_synchronising(lambda: [step() for _ in range(6)])
    state = parts.state
    row = state.stats.means()
    assert row["reg/gp0"] > 0 and row["loss/d"] == row["loss/d"]  # finite, and the lazy penalty is in the row
    # A graphed run resumed from its step-6 checkpoint (records its graphs afresh) ends as the uninterrupted one;
    # without the penalty's random draws, so that both do the same arithmetic, and with constant learning rates
    # (a decay's slope depends on train.steps, which the two parts' configs set apart).
    resumable = ("train.cuda_graph=true", "regulariser=[spectral_norm]")
    train(_graph_config(*resumable), tmp_path / "whole")
    train(_graph_config(*resumable, steps=6), tmp_path / "parts")
    train(_graph_config(*resumable), tmp_path / "parts",
          resume=Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt"))
    a = Checkpoint.load(tmp_path / "whole" / "checkpoints" / "last.pt").state
    b = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt").state
    for key in a["G"]:
        torch.testing.assert_close(a["G"][key], b["G"][key], rtol=1e-4, atol=1e-5, msg=key)
