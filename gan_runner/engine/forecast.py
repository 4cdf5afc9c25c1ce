"""How long a run will take, said once its speed is known: a budget that would take days says so at the start.

After a warm-up of WARMUP_STEPS steps or WARMUP_S seconds, whichever ends first (the first optimiser step imports
torch._dynamo, CUDA tunes its kernels; a step of a slow run is its own warm-up), the speed is measured over
WINDOW_STEPS steps or WINDOW_S seconds of wall time, whichever comes first (a quarter of a short run's steps at
most, so that it has an estimate too). The estimate of the whole run is the time since it
started (this process: a resumed run counts from its resumption) plus its remaining steps at that speed. What falls
in the window is counted (log rows, and a picture or checkpoint that happens to be due there); evaluations, sample
pictures and checkpoints due later are not, so a run with an expensive metric (FID every few thousand steps) takes
longer than its estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

WARMUP_STEPS = 10
WARMUP_S = 15.0
WINDOW_STEPS = 300
WINDOW_S = 60.0


@dataclass
class Estimate:
    steps_per_s: float
    total_s: float  # from the start of this process to the last step
    at_step: int


class Forecast:
    """Measures a run's speed once, from its step `first` (where it started or resumed, at monotonic time `began`)
    towards its step `last`."""

    def __init__(self, first: int, last: int, began: float) -> None:
        self.first, self.last, self.began = first, last, began
        self.clock: Optional[tuple[int, float]] = None  # (step, time) where the measuring window opened
        self.estimate: Optional[Estimate] = None

    @property
    def measuring(self) -> bool:
        return self.estimate is None

    def observe(self, step: int, now: float, elapsed: float) -> Estimate | None:
        """After step `step`, at monotonic time `now`, `elapsed` seconds after the run started: the estimate, the
        first time the window is full; else None."""
        if self.estimate is not None or (step < self.first + WARMUP_STEPS and now - self.began < WARMUP_S):
            return None
        if self.clock is None:
            self.clock = (step, now)
            return None
        steps, seconds = step - self.clock[0], now - self.clock[1]
        if steps <= 0 or (steps < min(WINDOW_STEPS, max(1, (self.last - self.clock[0]) // 4)) and seconds < WINDOW_S):
            return None
        speed = steps / max(seconds, 1e-9)
        self.estimate = Estimate(speed, elapsed + (self.last - step) / speed, step)
        return self.estimate

    def summary(self) -> dict[str, float | None]:
        """summary.json's estimate of the whole run's wall time (null: the run ended before its speed was known)."""
        return {"estimated_total_s": round(self.estimate.total_s, 1) if self.estimate else None}


def duration(seconds: float) -> str:
    """A duration as a person reads it: 45 s, 12 min, 3.4 h, 1,000 h (42 days)."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    return f"{hours:,.1f} h" if hours < 48 else f"{hours:,.0f} h ({hours / 24:,.0f} days)"


def too_long(estimate: Estimate, steps: int, warn_after_h: float, device: str) -> str:
    """The warning of a run whose estimate exceeds train.warn_after_h hours, with the ways out."""
    return (f"This run's {steps:,} steps will take about {duration(estimate.total_s)} on {device} "
            f"({estimate.steps_per_s:.3g} steps/s, measured up to step {estimate.at_step}; evaluations not counted), "
            f"more than train.warn_after_h={warn_after_h:g}. Ways out: fewer steps (train.steps=N), a smoke test "
            f"first (debug=fast), or a GPU (train.device=cuda); train.warn_after_h=null silences this.")
