"""The discriminator wins: D tells real from fake almost always, and G's gradient has collapsed, so G stops
learning (Goodfellow et al. 2014, section 3: early in training D rejects samples with high confidence and
log(1 - D(G(z))) saturates; Arjovsky & Bottou 2017: a perfect D leaves G vanishing gradients).

Read from each log row: `d/accuracy_real`, `d/accuracy_fake` and `grad_norm/g`. Fires when, for `patience`
consecutive rows, both accuracies are at least `accuracy` and G's gradient norm is at most `gradient_drop` times
the largest it has been in this run (`gradient_drop` null: the accuracies alone).

The non-saturating loss (the default objective) was made so that G's gradient does not vanish when D wins: with
it, G's gradient norm grows instead, so the default is `gradient_drop: null`, the accuracies alone; a value
(0.1) asks for the vanishing gradient of the minimax loss as well. A critic (wgan) has no
decision threshold, so no accuracy: the detector stays silent there, since a falling gradient norm alone also
means a generator that has converged (the healthy ring8 runs' falls forty-fold).
"""

from __future__ import annotations

from gan_runner.health import Detector, Streak


class DiscriminatorWins(Detector):
    what = "discriminator wins"
    fixes = ("slow D down or speed G up (train.lr_d lower, train.lr_g higher, train.n_critic=1), the non-saturating "
             "loss (objective=nonsaturating), a penalty or noise on D (regulariser=gp0, r1, instance_noise, "
             "label_smoothing)")
    remembered = ("peak", "streak", "last")

    def __init__(self, accuracy: float = 0.95, gradient_drop: float | None = None, patience: int = 5) -> None:
        if not 0.5 < accuracy <= 1 or not (gradient_drop is None or 0 < gradient_drop < 1) or patience < 1:
            raise ValueError("discriminator_wins needs 0.5 < accuracy <= 1, 0 < gradient_drop < 1 (or null) and "
                             f"patience >= 1, got accuracy={accuracy}, gradient_drop={gradient_drop}, "
                             f"patience={patience}")
        self.accuracy, self.gradient_drop, self.patience = accuracy, gradient_drop, patience
        self.peak = 0.0            # G's largest gradient norm so far
        self.streak = Streak()
        self.last: dict[str, float] = {}

    def look(self, values: dict[str, float], step: int) -> int | None:
        keys = ("d/accuracy_real", "d/accuracy_fake", "grad_norm/g")
        if not all(key in values for key in keys):
            return None
        real, fake, gradient = (values[key] for key in keys)
        self.peak = max(self.peak, gradient)
        vanished = self.gradient_drop is None or gradient <= self.gradient_drop * self.peak
        sick = min(real, fake) >= self.accuracy and vanished
        self.last = {"real": real, "fake": fake, "gradient": gradient, "peak": self.peak}
        return self.streak.since if self.streak.update(sick, step) >= self.patience else None

    def detail(self) -> str:
        last = self.last
        return (f"D's accuracy {last['real']:.2f} on real and {last['fake']:.2f} on fake samples; G's gradient norm "
                f"{last['gradient']:.3g}, {last['gradient'] / last['peak']:.1%} of its peak {last['peak']:.3g}")
