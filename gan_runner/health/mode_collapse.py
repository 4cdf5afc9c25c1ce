"""Mode collapse: G's samples draw together onto a few modes (Goodfellow 2016, NIPS tutorial section 5.1.1;
Metz et al. 2017; Srivastava et al. 2017 count the modes of 2-D mixtures).

Two symptoms, either fires it:

- In every log row, `health/diversity` (diagnostics.Diversity: the mean distance between G's samples over that
  between real ones, about 1 when G is as spread out as the data) below `diversity` times the most it has been
  so far (counted at most as the data's 1), for `patience` consecutive rows once `warmup` rows have passed. The
  yardstick is G's own best, so a G that never spread out (a new one bunches its samples together; one that
  never learns stays so) is not called collapsed: collapse is diversity that was there and is lost.
- In an evaluation, a count of modes or classes found (`coverage`: toy/modes on the 2-D mixtures, digits/classes
  on digits, stacked/modes on stacked digits) falling to at most `coverage_drop` times the most it has found in
  this run. A count comes from thousands of samples and metrics are evaluated rarely (metrics.every), so one
  falling evaluation is enough.
"""

from __future__ import annotations

from gan_runner.health import Detector, Streak


class ModeCollapse(Detector):
    what = "mode collapse"
    fixes = ("a gradient penalty (regulariser=gp0 or r1), spectral normalisation (regulariser=spectral_norm), a lower "
             "train.lr_g or a faster D (TTUR: train.lr_d = 2 x train.lr_g), another objective (hinge, wgan with gp)")
    remembered = ("rows", "peak", "streak", "best", "last")

    def __init__(self, diversity: float = 0.5, patience: int = 5, warmup: int = 10,
                 coverage: list[str] | tuple[str, ...] = ("toy/modes", "digits/classes", "stacked/modes"),
                 coverage_drop: float = 0.75) -> None:
        if not 0 < diversity < 1 or patience < 1 or warmup < 0 or not 0 < coverage_drop < 1:
            raise ValueError("mode_collapse needs 0 < diversity < 1, patience >= 1, warmup >= 0 and 0 < coverage_drop "
                             f"< 1, got diversity={diversity}, patience={patience}, warmup={warmup}, "
                             f"coverage_drop={coverage_drop}")
        self.diversity, self.patience, self.warmup = diversity, patience, warmup
        self.coverage, self.coverage_drop = tuple(coverage), coverage_drop
        self.rows = 0                     # log rows with a diversity seen so far
        self.peak = 0.0                   # the most diversity so far, at most 1
        self.streak = Streak()
        self.best: dict[str, float] = {}  # each coverage count's most so far
        self.last = ""

    def look(self, values: dict[str, float], step: int) -> int | None:
        for key in self.coverage:
            if key in values:
                found, most = values[key], max(self.best.get(key, 0.0), values[key])
                self.best[key] = most
                if found < most and found <= self.coverage_drop * most:
                    self.last = f"{key} fell from {most:g} to {found:g}"
                    return step
        if "health/diversity" not in values:
            return None
        self.rows += 1
        diversity = values["health/diversity"]
        self.peak = max(self.peak, min(diversity, 1.0))
        sick = self.rows > self.warmup and diversity < self.diversity * self.peak
        self.last = f"sample diversity {diversity:.2f} of the data's, after {self.peak:.2f} at best"
        return self.streak.since if self.streak.update(sick, step) >= self.patience else None

    def detail(self) -> str:
        return self.last
