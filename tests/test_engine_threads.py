"""train.threads (engine/threads.py) and train.cuda_graph=auto (engine/build.py records_a_graph): what auto
chooses and says, from the environment and the measured idle cores; a run's start line names its threads; while a
run goes, auto follows the load (the cores free for the run, the run's own CPU time counted as free) with
hysteresis, and says each change."""

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
from gan_runner.engine.loop import train
from tests.conftest import BIN, RING, make_config

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


def load_over(seconds: float, idle_cores: float, own_cores: float, cpus: int = 2, ticks: int = 100) -> tuple:
    """Two readings `seconds` apart: `idle_cores` of the machine's `cpus` idle, `own_cores` busy with the run."""
    total = int(seconds * cpus * ticks)
    return (threads.Load(1000, 5000, cpus, 10.0),
            threads.Load(1000 + int(idle_cores * seconds * ticks), 5000 + total, cpus, 10.0 + own_cores * seconds))


@pytest.mark.parametrize("idle, own, current, expected", [
    (0.04, 1.96, 2, 2),  # alone with 2 threads: its own threads keep both cores busy, and both are free for it
    (0.0, 1.33, 2, 1),   # beside a process spinning on a core (3 threads share 2 cores): one
    (0.0, 1.0, 2, 1),    # ... the same where the scheduler gives each process a core
    (0.0, 1.0, 4, 1),    # two spinners beside 4 threads
    (0.98, 1.0, 1, 2),   # alone with 1 thread: the other core idle, so 2
    (0.0, 1.0, 1, 1),    # 1 thread beside a spinner: stays
    (0.0, 0.67, 1, 1),   # 1 thread beside two spinners: never fewer than one
    (0.45, 1.0, 1, 1),   # an intermittent neighbour leaves 1.45 cores: within the margin, stays
    (0.0, 1.75, 2, 2),   # 1.75 free for a run at 2: within the margin, stays
])
def test_the_cores_free_for_the_run_count_its_own_cpu_time(idle: float, own: float, current: int,
                                                           expected: int) -> None:
    free = threads.free_cores(*load_over(5.0, idle, own))
    assert free == pytest.approx(idle + own, abs=0.01)
    assert threads.proposed_threads(free, current, cores=2 if current <= 2 else 4) == expected


def test_free_cores_is_unknown_when_no_time_passed_and_never_above_the_cpus() -> None:
    same = threads.Load(10, 100, 2, 1.0)
    assert threads.free_cores(same, same) is None
    assert threads.free_cores(*load_over(5.0, 1.0, 1.5)) == 2.0  # own time of a CPU-time rounding: at most the CPUs
    assert threads.proposed_threads(30.0, 1, cores=4) == 4  # never more than this process's cores


def test_a_process_limited_to_some_cpus_counts_theirs_alone() -> None:
    stat = ("cpu  40 0 0 360 0 0 0 0 0 0\ncpu0 10 0 0 90 0 0 0 0 0 0\ncpu1 0 0 0 100 0 0 0 0 0 0\n"
            "cpu2 30 0 0 70 0 0 0 0 0 0\ncpu3 0 0 0 100 0 0 0 0 0 0\n")
    assert threads._cpu_times(stat, None) == (360, 400, 4)
    assert threads._cpu_times(stat, {0, 1, 2, 3}) == (360, 400, 4)
    assert threads._cpu_times(stat, {0, 2}) == (160, 200, 2)  # taskset -c 0,2: the idle cpus 1 and 3 are not its


def test_a_new_count_needs_two_checks_in_a_row() -> None:
    assert threads.settle(2, None, 1) == (2, 1)      # one reading proposes 1: nothing changes yet
    assert threads.settle(2, 1, 1) == (1, None)      # the next agrees: 1
    assert threads.settle(2, 1, 2) == (2, None)      # the next says 2 again: the proposal is forgotten
    assert threads.settle(3, 1, 2) == (3, 2)         # another proposal starts over


class FakeLoad:
    """read_load's readings, each 5 s after the previous one: the run alone with its 2 threads for the first
    `alone` readings, then beside a process that spins on a core."""

    def __init__(self, alone: int) -> None:
        self.alone, self.readings, self.now = alone, 0, threads.Load(0, 0, 2, 0.0)

    def __call__(self) -> threads.Load:
        self.readings += 1
        idle, own = (0.05, 1.95) if self.readings <= self.alone else (0.0, 1.0)
        before, after = load_over(5.0, idle, own, ticks=threads.CLOCK_TICKS)
        self.now = threads.Load(self.now.idle + after.idle - before.idle, self.now.total + after.total - before.total,
                                2, self.now.own_s + after.own_s - before.own_s)
        return self.now


@pytest.mark.parametrize("setting, environment, changes", [
    ("auto", None, ["threads: 2 -> 1 (1.0 of 2 cores free for this run)"]),
    ("auto", "2", []),  # OMP_NUM_THREADS is the user's word
    (2, None, []),      # and so is a number
])
def test_a_run_with_threads_auto_follows_load_that_arrives_mid_run(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path, setting: object,
        environment: str | None, changes: list[str]) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS")
    if environment:
        monkeypatch.setenv("OMP_NUM_THREADS", environment)
    monkeypatch.setattr(threads, "idle_cores", lambda: 2.0)  # an idle machine at the start: 2 threads
    monkeypatch.setattr(threads, "visible_cores", lambda: 2)
    monkeypatch.setattr(threads, "CHECK_EVERY_S", 0.0)  # a check after every step
    monkeypatch.setattr(threads, "read_load", FakeLoad(alone=6))
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger="gan_runner"):
            train(make_config(*RING, "train.steps=12", f"train.threads={setting}"), tmp_path)
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("threads:")]
        assert lines == changes  # once, two checks after the neighbour came; not at every check after
        assert torch.get_num_threads() == (1 if changes else 2)
    finally:
        torch.set_num_threads(before)
