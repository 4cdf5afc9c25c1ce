"""train.threads (engine/threads.py) and train.cuda_graph=auto (engine/build.py records_a_graph): what auto
chooses and says, from the environment and the measured idle cores; a run's start line names its threads."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest
import torch

from gan_runner.engine import threads
from gan_runner.engine.build import records_a_graph
from gan_runner.errors import UserError
from tests.conftest import BIN, RING

STAT = """cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0
cpu0 1 0 1 1 0 0 0 0 0 0
cpu1 1 0 1 1 0 0 0 0 0 0
intr 12345
"""


def test_auto_takes_omp_num_threads_else_the_idle_cores_rounded_at_least_one() -> None:
    assert threads.choose_threads(3, None, 0.0, cores=2) == (3, "train.threads=3")  # asked for: as asked
    assert threads.choose_threads("auto", "1", 2.0, cores=2) == (1, "auto: OMP_NUM_THREADS=1")
    assert threads.choose_threads("auto", None, 1.96, cores=2)[0] == 2   # an idle machine: every core
    assert threads.choose_threads("auto", None, 0.3, cores=2)[0] == 1    # two busy processes beside it: one
    assert threads.choose_threads("auto", None, 1.4, cores=2)[0] == 1
    assert threads.choose_threads("auto", None, 30.0, cores=4)[0] == 4   # never more than this process's cores
    assert threads.choose_threads("auto", None, None, cores=8) == (8, "auto: the load cannot be read here, every core")
    assert threads.choose_threads("auto", None, 0.3, cores=2)[1] == "auto: 0.3 of 2 cores idle"


def test_idle_cores_are_read_from_the_kernels_counters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    readings = iter([STAT.format(user=100, system=50, idle=1000, iowait=0),
                     STAT.format(user=250, system=50, idle=1040, iowait=10)])  # 200 jiffies: 150 busy, 50 idle
    monkeypatch.setattr(threads, "PROC_STAT", stat)
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: stat.write_text(next(readings)))
    stat.write_text(next(readings))
    assert threads.idle_cores() == pytest.approx(50 / 200 * 2)  # a quarter of the 2 CPUs listed
    monkeypatch.setattr(threads, "PROC_STAT", tmp_path / "missing")
    assert threads.idle_cores() is None


def test_set_threads_sets_torchs_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert threads.set_threads("auto") == "1 CPU thread (auto: OMP_NUM_THREADS=1)"
        assert torch.get_num_threads() == 1
        assert threads.set_threads(2) == "2 CPU threads (train.threads=2)" and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_runs_start_line_says_how_many_threads_auto_chose_and_why(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run([str(BIN / "gan-run"), *RING, "train.steps=2", "hydra.run.dir=run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    first = (tmp_path / "run" / "gan-run.log").read_text().splitlines()[0]
    assert "cores idle)" in first and "CPU thread" in first, first
    assert "CUDA graph off" in first  # a CPU run: no graph, and no line about it beyond this


def test_cuda_graph_auto_records_when_it_can_and_says_why_not_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    with caplog.at_level(logging.INFO, logger="gan_runner"):
        assert records_a_graph("auto", cuda, []) is True
        assert records_a_graph("auto", cuda, ["train.precision=fp16: ...", "train.compile=true: ..."]) is False
        assert records_a_graph("auto", cpu, ["the run is on cpu: ..."]) is False
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["CUDA graph off (train.cuda_graph=auto): train.precision=fp16: ...; train.compile=true: ..."]
    assert records_a_graph(False, cuda, []) is False and records_a_graph(True, cuda, []) is True
    with pytest.raises(UserError, match="train.cuda_graph=true cannot record this run's step: the run is on cpu"):
        records_a_graph(True, cpu, ["the run is on cpu: CUDA graphs need a CUDA GPU"])
