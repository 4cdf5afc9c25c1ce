"""Oscillation: the losses swing back and forth with a growing amplitude, G and D chasing each other round instead of
settling (Mescheder et al. 2018, "Which training methods for GANs do actually converge?": without a penalty,
simultaneous gradient descent circles or spirals out around the equilibrium, so the losses go up and down again and
again, ever wider).

What counts is swinging: row-to-row changes of alternating sign. Read from each log row: `loss/d` and `loss/g`. A
loss's movement over the last `window` rows (health.movement) splits into what adds up over the window (its drift,
|sum of the changes| / window) and what cancels out, the swings: (sum of |changes| - |sum of the changes|) / window. A
one-way climb, straight or accelerating, has no swings at all (every change has the same sign); that is a runaway, the
loss_runaway detector's. Alternating swings of size a give about 2a; a swing slower than a row a side counts as long
as the window holds a whole period of it. Fires when, for `patience` consecutive rows, the swings of either loss are
at least `growth` times its usual movement (the median of its mean |change| a row over the rows before) and at least
`floor`: a smooth run's row means change by about a thousandth of a loss unit a row, and such wiggles doubling is no
oscillation. A swing must repeat: the window must pass both thresholds also with its two largest changes cut down to
its third largest (health.movement_beyond_one_event), so that a single spike, one rise and one fall however large, is
not called an oscillation, while a swing down, up and down again is. The yardstick is the whole movement rather than
past swings, so a run that drifted steadily for a while (no swings then) does not make its ordinary noise afterwards
look like a growing swing.
"""

from __future__ import annotations

import statistics

from gan_runner.health import Detector, Streak, movement, movement_beyond_one_event

LOSSES = ("loss/d", "loss/g")


class Oscillation(Detector):
    what = "oscillation"
    fixes = ("lower learning rates (train.lr_g, train.lr_d), a Lipschitz constraint or zero-centred penalty on D "
             "(regulariser=gp, r1, gp0 or spectral_norm), Adam with less momentum (train.betas=[0.0,0.9])")
    # `amplitudes` keeps its name from the first version of this detector, whose amplitude was this same mean
    # |change| a row: checkpoints written then load and go on as they were.
    remembered = ("recent", "amplitudes", "streak", "last")

    def __init__(self, window: int = 10, growth: float = 3.0, floor: float = 0.01, patience: int = 5) -> None:
        if window < 3 or growth <= 1 or floor < 0 or patience < 1:
            raise ValueError(f"oscillation needs window >= 3, growth > 1, floor >= 0 and patience >= 1, got "
                             f"window={window}, growth={growth}, floor={floor}, patience={patience}")
        self.window, self.growth, self.floor, self.patience = window, growth, floor, patience
        self.recent: dict[str, list[float]] = {key: [] for key in LOSSES}      # the last window + 1 values
        self.amplitudes: dict[str, list[float]] = {key: [] for key in LOSSES}  # every row's mean |change| so far
        self.streak = Streak()
        self.last = ""

    def look(self, values: dict[str, float], step: int) -> int | None:
        if not all(key in values for key in LOSSES):
            return None
        sick = False
        for key in LOSSES:
            recent = (self.recent[key] + [values[key]])[-(self.window + 1):]
            self.recent[key] = recent
            if len(recent) <= self.window:
                continue
            whole, drift = movement(recent)
            swings = whole - abs(drift)
            rest, rest_drift = movement_beyond_one_event(recent)  # without a single spike's rise and fall
            before = self.amplitudes[key]
            usual = statistics.median(before) if before else None
            if usual is not None and min(swings, rest - abs(rest_drift)) >= max(self.growth * usual, self.floor):
                sick = True
                self.last = (f"{key} swings {swings:.3g} a row back and forth over the last {self.window} rows, "
                             f"against {usual:.3g} usual movement")
            before.append(whole)
        return self.streak.since if self.streak.update(sick, step) >= self.patience else None

    def detail(self) -> str:
        return self.last
