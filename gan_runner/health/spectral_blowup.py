"""Spectral blow-up: the largest singular value of G's or D's weights grows without levelling off. BigGAN (Brock et
al. 2019, section 4.1) saw sigma_0 of G's layers and of D's grow steadily and then explode at collapse; Miyato et
al. (2018) bound it to keep D Lipschitz.

Read from each row: `sigma/G` and `sigma/D` (each network's largest over its layers), the first of them the
networks as built (Health shows the detectors that row at step 0). Fires when, for `patience` consecutive rows,
one of them is at least `growth` times its value as built and still rising: at least `rise` times what it was
`patience` rows before. Healthy runs grow their singular values too (the default DCGAN's D on digits reaches ten
times its initial value at about 20,000 steps), but ever more slowly, a percent or two every five rows; a blow-up
keeps its pace.
"""

from __future__ import annotations

from gan_runner.health import Detector, Streak

SIGMAS = ("sigma/G", "sigma/D")


class SpectralBlowup(Detector):
    what = "spectral blow-up"
    fixes = ("spectral normalisation (regulariser=spectral_norm, regulariser.spectral_norm.generator=true for G), "
             "lower learning rates, a Lipschitz constraint or penalty on D (regulariser=gp, gp0 or r1)")
    remembered = ("initial", "recent", "streak", "last")

    def __init__(self, growth: float = 10.0, rise: float = 1.05, patience: int = 5) -> None:
        if growth <= 1 or rise < 1 or patience < 1:
            raise ValueError(f"spectral_blowup needs growth > 1, rise >= 1 and patience >= 1, got growth={growth}, "
                             f"rise={rise}, patience={patience}")
        self.growth, self.rise, self.patience = growth, rise, patience
        self.initial: dict[str, float] = {}                                # each sigma in the first row
        self.recent: dict[str, list[float]] = {key: [] for key in SIGMAS}  # the last patience + 1 values
        self.streak = Streak()
        self.last = ""

    def look(self, values: dict[str, float], step: int) -> int | None:
        present = [key for key in SIGMAS if key in values]
        if not present:
            return None
        sick = False
        for key in present:
            value = values[key]
            initial = self.initial.setdefault(key, value)
            self.recent[key] = (self.recent[key] + [value])[-(self.patience + 1):]
            if len(self.recent[key]) <= self.patience:
                continue
            if value >= self.growth * initial and value >= self.rise * self.recent[key][0]:
                sick = True
                self.last = f"{key} {value:.3g}, {value / initial:.0f}x its initial {initial:.3g} and rising"
        return self.streak.since if self.streak.update(sick, step) >= self.patience else None

    def detail(self) -> str:
        return self.last
