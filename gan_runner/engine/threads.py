"""train.threads: how many CPU threads torch computes with.

torch starts one OpenMP thread per core. When other work holds some of the cores, its threads wait for each other at
every parallel region, and a run became 3.8x slower than with one thread (docs/results/speed.md: 16.7 against 63.1
steps/s on 2 cores beside two busy processes, `python scripts/bench_threads.py --steps 1500 --busy 2`). `auto`
therefore takes OMP_NUM_THREADS when the user (or torchrun, or the parallel launcher's placement) set it, else the
cores idle when the run starts, measured from the kernel's counters over a quarter of a second (Linux's /proc/stat),
rounded, at least 1 and at most the cores this process may use. It decides once: a run's thread count never changes,
so its numbers do not depend on the load later on.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

PROC_STAT = Path("/proc/stat")
MEASURE_S = 0.25


def visible_cores() -> int:
    """The cores this process may run on (a SLURM allocation or taskset counts, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _cpu_times(stat: str) -> tuple[int, int, int]:
    """(idle, total) jiffies of all CPUs from /proc/stat's text, and the number of CPUs it lists."""
    fields = [int(v) for v in stat.splitlines()[0].split()[1:]]
    cpus = sum(line.startswith("cpu") and line[3:4].isdigit() for line in stat.splitlines())
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return idle, sum(fields[:8]), cpus  # user nice system idle iowait irq softirq steal (guest is in user)


def idle_cores(interval: float = MEASURE_S) -> float | None:
    """How many of the machine's cores were idle over the next `interval` seconds; None where /proc/stat is not."""
    try:
        first = _cpu_times(PROC_STAT.read_text())
        time.sleep(interval)
        second = _cpu_times(PROC_STAT.read_text())
    except (OSError, ValueError, IndexError):
        return None
    total = second[1] - first[1]
    if total <= 0:
        return None
    return (second[0] - first[0]) / total * second[2]


def choose_threads(setting: int | str, environment: str | None, idle: float | None, cores: int) -> tuple[int, str]:
    """The thread count for train.threads=`setting`, and why (for the run's start line). `environment` is
    OMP_NUM_THREADS, `idle` the idle cores measured (None: unknown), `cores` those this process may use."""
    if setting != "auto":
        return int(setting), f"train.threads={setting}"
    if environment and environment.strip().isdigit() and int(environment) > 0:
        return int(environment), f"auto: OMP_NUM_THREADS={environment.strip()}"
    if idle is None:
        return cores, "auto: the load cannot be read here, every core"
    chosen = max(1, min(cores, int(idle + 0.5)))
    return chosen, f"auto: {idle:.1f} of {cores} cores idle"


def set_threads(setting: int | str) -> str:
    """Sets torch's thread count for train.threads=`setting`; returns what was chosen and why."""
    environment = os.environ.get("OMP_NUM_THREADS")
    measured = idle_cores() if setting == "auto" and not environment else None
    threads, why = choose_threads(setting, environment, measured, visible_cores())
    torch.set_num_threads(threads)
    return f"{threads} CPU thread{'s' if threads > 1 else ''} ({why})"
