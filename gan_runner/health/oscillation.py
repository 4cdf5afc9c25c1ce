"""Oscillation: the losses swing with a growing amplitude, G and D chasing each other round instead of settling
(Mescheder et al. 2018, "Which training methods for GANs do actually converge?": without a penalty, simultaneous
gradient descent circles or spirals out around the equilibrium).

Read from each log row: `loss/d` and `loss/g`. A loss's amplitude at a row is the mean absolute change between
consecutive rows over the last `window` rows (a slow drift adds little to it, a swing a lot). Fires when, for
`patience` consecutive rows, the amplitude of either loss is at least `growth` times its median over the rows
before and at least `floor`: a smooth run's row means change by about a thousandth of a loss unit a row, and such
wiggles doubling is no oscillation.
"""

from __future__ import annotations

import statistics

from gan_runner.health import Detector, Streak

LOSSES = ("loss/d", "loss/g")


class Oscillation(Detector):
    what = "oscillation"
    fixes = ("lower learning rates (train.lr_g, train.lr_d), a Lipschitz constraint or zero-centred penalty on D "
             "(regulariser=gp, r1, gp0 or spectral_norm), Adam with less momentum (train.betas=[0.0,0.9])")
    remembered = ("recent", "amplitudes", "streak", "last")

    def __init__(self, window: int = 10, growth: float = 3.0, floor: float = 0.01, patience: int = 5) -> None:
        if window < 2 or growth <= 1 or floor < 0 or patience < 1:
            raise ValueError(f"oscillation needs window >= 2, growth > 1, floor >= 0 and patience >= 1, got "
                             f"window={window}, growth={growth}, floor={floor}, patience={patience}")
        self.window, self.growth, self.floor, self.patience = window, growth, floor, patience
        self.recent: dict[str, list[float]] = {key: [] for key in LOSSES}      # the last window + 1 values
        self.amplitudes: dict[str, list[float]] = {key: [] for key in LOSSES}  # every row's amplitude so far
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
            amplitude = sum(abs(b - a) for a, b in zip(recent, recent[1:])) / self.window
            before = self.amplitudes[key]
            usual = statistics.median(before) if before else None
            if usual is not None and amplitude >= max(self.growth * usual, self.floor):
                sick = True
                self.last = f"{key} swings {amplitude:.3g} a row, against {usual:.3g} usually"
            before.append(amplitude)
        return self.streak.since if self.streak.update(sick, step) >= self.patience else None

    def detail(self) -> str:
        return self.last
