"""Loss runaway: a loss climbs (or falls) one way, ever faster, instead of settling. The classic case is a critic
without a Lipschitz constraint (objective=wgan with regulariser=none): the critic's objective, E_p[D] - E_q[D], is
unbounded over unconstrained critics (Arjovsky et al. 2017 bound it by clipping, Gulrajani et al. 2017 by a gradient
penalty, Miyato et al. 2018 by spectral normalisation), so D's scores of the fakes run off and G's loss, -E_q[D],
climbs with them. The same happens to -log D(G(z)) when a discriminator's logits grow without bound.

Read from each log row: `loss/d` and `loss/g`. A loss's movement over the last `window` rows (health.movement)
splits into what cancels out (swings: the oscillation detector's) and what adds up, its drift: the mean signed
change a row, |sum of the changes| / window, whose sign says rising or falling. Fires when, for `patience`
consecutive rows, the drift of either loss, either way, is at least `growth` times its usual movement (the median
of its mean |change| a row over the rows before), at least `floor` loss units a row, and at least `one_way` of the
window's whole movement (its mean |change| a row): a loss that mostly goes one way, not one that swings ever wider
and happens to end a window higher than it began it. A healthy loss drifts too (towards its equilibrium value,
slowing as it gets there) but by less than it usually moves; a runaway outruns everything the loss did before.
And it keeps going: the window must pass the same thresholds also with its two largest changes cut down to its third
largest (health.movement_beyond_one_event), so that a single jump to a new level, however large, is not called a
runaway, while a climb of three rows or more is.

Both directions, because which way a runaway goes depends on the loss's form, not on the failure: an unconstrained
critic's loss (E_q[D] - E_p[D]) falls as its margin grows while G's, -E_q[D], rises; the hinge and minimax G losses
fall without bound as D's scores of the fakes grow. The discriminator losses of the cross-entropy, least-squares and
hinge objectives are bounded below by 0, so a fall of theirs stops there.
"""

from __future__ import annotations

import statistics

from gan_runner.health import Detector, Streak, movement, movement_beyond_one_event

LOSSES = ("loss/d", "loss/g")


class LossRunaway(Detector):
    what = "loss runaway"
    fixes = ("for a critic (objective=wgan), a Lipschitz constraint on D (regulariser=gp, spectral_norm or clip); "
             "lower learning rates (train.lr_g, train.lr_d); a penalty on D (regulariser=gp0 or r1)")
    remembered = ("recent", "movements", "streak", "last")

    def __init__(self, window: int = 10, growth: float = 3.0, floor: float = 0.01, one_way: float = 0.5,
                 patience: int = 5) -> None:
        if window < 3 or growth <= 1 or floor < 0 or not 0 < one_way <= 1 or patience < 1:
            raise ValueError(f"loss_runaway needs window >= 3, growth > 1, floor >= 0, 0 < one_way <= 1 and patience "
                             f">= 1, got window={window}, growth={growth}, floor={floor}, one_way={one_way}, "
                             f"patience={patience}")
        self.window, self.growth, self.floor, self.one_way, self.patience = window, growth, floor, one_way, patience
        self.recent: dict[str, list[float]] = {key: [] for key in LOSSES}     # the last window + 1 values
        self.movements: dict[str, list[float]] = {key: [] for key in LOSSES}  # every row's mean |change| so far
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
            rest = movement_beyond_one_event(recent)  # without a single jump
            before = self.movements[key]
            usual = statistics.median(before) if before else None
            if usual is not None and all(abs(way) >= max(self.growth * usual, self.floor, self.one_way * size)
                                         for size, way in ((whole, drift), rest)):
                sick = True
                way = "rising" if drift > 0 else "falling"
                self.last = (f"{key} {way} {abs(drift):.3g} a row over the last {self.window} rows, from "
                             f"{recent[0]:.4g} to {recent[-1]:.4g}, against {usual:.3g} usual movement")
            before.append(whole)
        return self.streak.since if self.streak.update(sick, step) >= self.patience else None

    def detail(self) -> str:
        return self.last
