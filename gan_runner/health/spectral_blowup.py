"""Spectral blow-up: the largest singular value of G's or D's weights grows without levelling off. BigGAN (Brock
et al. 2019, section 4.1) saw sigma_0 of G's layers and of D's grow steadily and then explode at collapse; Miyato
et al. (2018) bound it to keep D Lipschitz.

Read from each log row: `sigma/G` and `sigma/D` (each network's largest over its layers). Fires when, for
`patience` consecutive rows, one of them is at least `growth` times its early value (its value at row `warmup`,
after the first updates have moved the initial weights) and still rising: at least `rise` times what it was
`patience` rows before.
"""

from __future__ import annotations

from gan_runner.health import Detector, Streak

SIGMAS = ("sigma/G", "sigma/D")


class SpectralBlowup(Detector):
    what = "spectral blow-up"
    fixes = ("spectral normalisation (regulariser=spectral_norm, regulariser.spectral_norm.generator=true for G), "
             "lower learning rates, a gradient penalty (regulariser=gp0 or r1), weight decay (optimizer=adamw)")
    remembered = ("rows", "early", "recent", "streak", "last")

    def __init__(self, growth: float = 10.0, rise: float = 1.05, warmup: int = 5, patience: int = 5) -> None:
        if growth <= 1 or rise < 1 or warmup < 1 or patience < 1:
            raise ValueError(f"spectral_blowup needs growth > 1, rise >= 1, warmup >= 1 and patience >= 1, got "
                             f"growth={growth}, rise={rise}, warmup={warmup}, patience={patience}")
        self.growth, self.rise, self.warmup, self.patience = growth, rise, warmup, patience
        self.rows = 0
        self.early: dict[str, float] = {}                                  # each sigma at row `warmup`
        self.recent: dict[str, list[float]] = {key: [] for key in SIGMAS}  # the last patience + 1 values
        self.streak = Streak()
        self.last = ""

    def look(self, values: dict[str, float], step: int) -> int | None:
        present = [key for key in SIGMAS if key in values]
        if not present:
            return None
        self.rows += 1
        sick = False
        for key in present:
            value = values[key]
            self.recent[key] = (self.recent[key] + [value])[-(self.patience + 1):]
            if self.rows == self.warmup:
                self.early[key] = value
            if key not in self.early or len(self.recent[key]) <= self.patience:
                continue
            if value >= self.growth * self.early[key] and value >= self.rise * self.recent[key][0]:
                sick = True
                early = self.early[key]
                self.last = f"{key} {value:.3g}, {value / early:.0f}x its early {early:.3g} and rising"
        return self.streak.since if self.streak.update(sick, step) >= self.patience else None

    def detail(self) -> str:
        return self.last
