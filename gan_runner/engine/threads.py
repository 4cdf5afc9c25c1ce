"""train.threads: how many CPU threads torch computes with, at the start and while the run goes.

torch starts one OpenMP thread per core. When other work holds some of the cores, its threads wait for each other at
every parallel region, and a run became 3.8x slower than with one thread (docs/results/speed.md: 16.7 against 63.1
steps/s on 2 cores beside two busy processes, `python scripts/bench_threads.py --steps 1500 --busy 2`). `auto`
therefore takes OMP_NUM_THREADS when the user (or torchrun, or the parallel launcher's placement) set it, else the
cores idle when the run starts, measured from the kernel's counters over a quarter of a second (Linux's /proc/stat),
rounded, at least 1 and at most the cores this process may use.

Load that arrives after the start matters as much (a default run decided 2 threads on an idle machine and took 26
minutes instead of 82 s when other work came): so, without OMP_NUM_THREADS, `auto` then follows the load
(`LoadFollower`): every CHECK_EVERY_S seconds of wall time it reads the kernel's counters and the process's own CPU
time since the last check, counts the cores free for this run (those idle plus those the run itself kept busy),
and changes the thread count when two checks in a row agree on a new one outside a margin of the current one (one
noisy reading changes nothing). The run's log says each change. A set OMP_NUM_THREADS or a number in train.threads
is the user's word: it never changes. torch's CPU reductions may differ in the last bits with the thread count,
so a run whose numbers must be reproduced bit for bit sets OMP_NUM_THREADS (as the tests do).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import NamedTuple, Optional

import torch

PROC_STAT = Path("/proc/stat")
MEASURE_S = 0.25
CHECK_EVERY_S = 5.0  # wall time between two looks at the load while a run goes: reading /proc/stat costs ~0.1 ms
# The margins of the count: fewer threads when less than the current count minus DOWN_MARGIN cores are free for the
# run, more when at least the current count plus UP_MARGIN are. Too many threads cost up to 14x, too few at most the
# share of a core left unused: the margins lean towards fewer.
DOWN_MARGIN = 0.4
UP_MARGIN = 0.8


def visible_cores() -> int:
    """The cores this process may run on (a SLURM allocation or taskset counts, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def allowed_cpus() -> set[int] | None:
    """The CPUs this process may run on (None: unknown, every one)."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def _cpu_times(stat: str, allowed: set[int] | None = None) -> tuple[int, int, int]:
    """(idle, total) jiffies from /proc/stat's text and the number of CPUs they cover: the `allowed` CPUs' own lines
    when they are some of those listed (a SLURM allocation, taskset: the other CPUs' idle time is not this run's to
    take), else every CPU's."""
    lines = stat.splitlines()
    per_cpu = {int(line.split()[0][3:]): line for line in lines if line.startswith("cpu") and line[3:4].isdigit()}
    chosen = [per_cpu[cpu] for cpu in sorted(allowed or ()) if cpu in per_cpu]
    if not chosen or len(chosen) == len(per_cpu):
        chosen = [lines[0]]
    idle = total = 0
    for line in chosen:
        fields = [int(v) for v in line.split()[1:]]
        idle += fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
        total += sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return idle, total, len(per_cpu) if chosen == [lines[0]] else len(chosen)


def idle_cores(interval: float = MEASURE_S) -> float | None:
    """How many of the machine's cores were idle over the next `interval` seconds; None where /proc/stat is not."""
    try:
        first = _cpu_times(PROC_STAT.read_text(), allowed_cpus())
        time.sleep(interval)
        second = _cpu_times(PROC_STAT.read_text(), allowed_cpus())
    except (OSError, ValueError, IndexError):
        return None
    total = second[1] - first[1]
    if total <= 0:
        return None
    return (second[0] - first[0]) / total * second[2]


def environment_threads(environment: str | None) -> int | None:
    """OMP_NUM_THREADS as a thread count, None when unset or not a positive whole number."""
    return int(environment) if environment and environment.strip().isdigit() and int(environment) > 0 else None


def choose_threads(setting: int | str, environment: str | None, idle: float | None, cores: int) -> tuple[int, str]:
    """The thread count for train.threads=`setting`, and why (for the run's start line). `environment` is
    OMP_NUM_THREADS, `idle` the idle cores measured (None: unknown), `cores` those this process may use."""
    if setting != "auto":
        return int(setting), f"train.threads={setting}"
    if environment_threads(environment):
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


class Load(NamedTuple):
    """The kernel's counters of the CPUs this process may use (jiffies: 1/CLOCK_TICKS s) and its CPU time (seconds)
    at a moment: two of them, a check apart, say how busy those CPUs were and how much of that was the run itself."""

    idle: int
    total: int
    cpus: int
    own_s: float


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # /proc/stat's jiffies per second


def read_load() -> Load | None:
    """The counters now; None where /proc/stat cannot be read (not Linux)."""
    try:
        idle, total, cpus = _cpu_times(PROC_STAT.read_text(), allowed_cpus())
    except (OSError, ValueError, IndexError):
        return None
    own = os.times()
    return Load(idle, total, cpus, own.user + own.system)  # every thread of this process, not its children


def free_cores(before: Load, after: Load, ticks: float = CLOCK_TICKS) -> float | None:
    """The cores free for this run between two readings: those idle plus those the run kept busy itself (a run alone
    on 2 cores with 2 threads finds both free, beside a process spinning on a core about one). None: no time passed."""
    total = after.total - before.total
    if total <= 0:
        return None
    own = max(0.0, after.own_s - before.own_s) * ticks
    return min(float(after.cpus), (after.idle - before.idle + own) / total * after.cpus)


def proposed_threads(free: float, current: int, cores: int) -> int:
    """The thread count for `free` cores, staying at `current` within the margins (DOWN_MARGIN, UP_MARGIN); at least
    1 and at most `cores`, those this process may use."""
    if free < current - DOWN_MARGIN:
        proposal = math.floor(free + DOWN_MARGIN)
    elif free >= current + UP_MARGIN:
        proposal = math.floor(free + 1 - UP_MARGIN)
    else:
        proposal = current
    return max(1, min(cores, proposal))


def settle(current: int, pending: int | None, proposal: int) -> tuple[int, int | None]:
    """Hysteresis: (the thread count, the proposal waiting for a second check). A new count is taken when two checks
    in a row propose it; a proposal of the current count forgets the waiting one."""
    if proposal == current:
        return current, None
    if proposal == pending:
        return proposal, None
    return current, proposal


class LoadFollower:
    """train.threads=auto without OMP_NUM_THREADS, while the run goes: `due()` after CHECK_EVERY_S seconds of wall
    time (cheap enough to ask at every step), then `check()` reads the load since the last check, sets torch's thread
    count when it settles on another one and returns the line that says so (else None)."""

    def __init__(self, threads: int, cores: int, every_s: float) -> None:
        self.threads, self.cores, self.every_s = threads, cores, every_s
        self.pending: Optional[int] = None
        self.last, self.checked = read_load(), time.monotonic()

    @classmethod
    def of(cls, setting: int | str) -> LoadFollower | None:
        """The follower of a run whose train.threads is `setting` (None: the count is the user's word, or fixed)."""
        if setting != "auto" or environment_threads(os.environ.get("OMP_NUM_THREADS")) or read_load() is None:
            return None
        return cls(torch.get_num_threads(), visible_cores(), CHECK_EVERY_S)

    def due(self) -> bool:
        return time.monotonic() - self.checked >= self.every_s

    def check(self) -> str | None:
        now, self.checked = read_load(), time.monotonic()
        free = free_cores(self.last, now) if self.last and now else None
        self.last = now
        if free is None:
            return None
        before = self.threads
        self.threads, self.pending = settle(before, self.pending, proposed_threads(free, before, self.cores))
        if self.threads == before:
            return None
        torch.set_num_threads(self.threads)
        free = min(free, self.cores)
        return f"threads: {before} -> {self.threads} ({free:.1f} of {self.cores} cores free for this run)"
