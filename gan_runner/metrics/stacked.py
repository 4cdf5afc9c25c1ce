"""Mode coverage on stacked digits (dataset=stacked_digits), as Metz et al. 2017, Srivastava et al. 2017 (VEEGAN)
and Lin et al. 2018 (PacGAN, Tables 2 and 3) count it on stacked MNIST: a digit classifier, the judge, reads each channel
of n generated images (26,000 as PacGAN); the three digits name one of 1,000 modes (100 R + 10 G + B).

- `stacked/modes`: modes that at least one sample lands in (PacGAN's rule), of 1,000.
- `stacked/modes_quarter_share`: modes holding at least a quarter of their uniform share, n / 4,000 samples (7 of
  26,000; at n = 4,000 or fewer this is `stacked/modes`). One sample per mode is enough for `stacked/modes`,
  so a generator that puts nearly everything on a few modes and a stray sample on the rest still finds them all;
  this count does not. Real data at n = 26,000 (26 a mode, Poisson) misses a quarter share with odds 3e-6 a mode.
- `stacked/kl`: KL(q || uniform) in nats of the histogram q of the generated modes (log 1000 = 6.91 when every
  sample is one mode, log(1000 / m) when m modes are equally full).
- `stacked/modes_then_kl` = modes + (1 - kl / log 1000) / 2 decides checkpoints/best.pt (higher is better). Modes
  alone is too coarse for best.pt: a healthy run finds all 1,000 at many evaluations, and the first would be
  kept however uneven its histogram. This value orders by modes first and by KL only between equal counts (the KL
  is at most log 1000, so the added part stays in [0, 1/2] and the integer part is always the modes), as
  metrics=toy's modes_then_quality does. Read it back as modes (integer part) and kl = log 1000 x (1 - 2 x rest).
- `stacked/judge_accuracy`: the judge's accuracy on the held-out digits, one channel's reading.
- `stacked/modes_real`, `stacked/modes_quarter_share_real`, `stacked/kl_real`: the same numbers for n stacks of
  held-out real digits (drawn with replacement: there are 450), the yardstick of a perfect generator. The KL of a
  perfect generator is not 0: n samples over 1,000 equally likely modes leave an expected KL of about
  999 / (2 n) (0.019 at n = 26,000; the chi-square approximation), plus what the judge's errors add.

The judge is an RBF support-vector classifier (C = 3, chosen by 5-fold cross-validation on the training digits
over 1, 3, 10) on each channel average-pooled back to 8x8 in the digits' 0-16 range (metrics.digits.to_8x8),
trained on the training digits after the same round trip (resized to the dataset's resolution as the dataset
resizes them, quantised to uint8, pooled back). Of the judges compared on the held-out digits (logistic
regression 96 %, one-hidden-layer MLPs 97-98 %, nearest neighbours 98.4-98.7 %), it reads them best: 99.3 % at 8,
16 and 32 (`python scripts/stacked_judges.py`, which also prints the yardsticks; docs/evaluation.md). It trains in
a fraction of a second and reads 78,000 channels in 2-3 s on one CPU core; one judge per resolution is
trained on first use and kept for the process. Like PacGAN's MNIST classifier it names a digit for any image:
uniform noise finds 201 modes (87 at a quarter share, KL 3.47). The modes say how many of the 1,000 a generator
reaches, not how good its digits are: the sample pictures say that.

The digits are split by gan_runner.data.digits.train_and_held_out, as dataset=stacked_digits and metrics=digits
split them: the judge never trains on a held-out digit, and a generator never sees one.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from sklearn.svm import SVC

from gan_runner.data.digits import digit_images, train_and_held_out
from gan_runner.data.stacked_digits import MODES, PLACE_VALUES
from gan_runner.errors import UserError
from gan_runner.metrics import Metric, Sampler, kl_to_uniform
from gan_runner.metrics.digits import to_8x8


class DigitJudge:
    """Reads the digit in each channel of images at one resolution (see the module's docstring)."""

    def __init__(self, resolution: int) -> None:
        images, classes = digit_images(resolution)
        train, held_out = train_and_held_out()
        self.classifier = SVC(C=3.0).fit(to_8x8(to_signed(images[train])), classes[train].numpy())
        self.held_out_digits = self.digits(to_signed(images[held_out]))[:, 0]  # what it reads in each held-out digit
        self.accuracy = float((self.held_out_digits == classes[held_out].numpy()).mean())

    def digits(self, images: torch.Tensor) -> np.ndarray:
        """N x C images in [-1, 1] -> N x C: the digit read in each channel."""
        n, channels = images.shape[:2]
        return self.classifier.predict(to_8x8(images.reshape(n * channels, 1, *images.shape[2:]))).reshape(n, channels)

    def modes(self, stacks: torch.Tensor) -> np.ndarray:
        """N x 3 x H x W stacks in [-1, 1] -> N modes, 0-999."""
        return self.digits(stacks) @ PLACE_VALUES.numpy()


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> floats in [-1, 1], as the datasets serve them and generators make them."""
    return images.float() / 127.5 - 1


@functools.cache
def judge_at(resolution: int) -> DigitJudge:
    """The judge for one resolution, trained once a process (well under a second)."""
    return DigitJudge(resolution)


@functools.cache
def held_out_counts(resolution: int, n: int) -> np.ndarray:
    """The mode histogram the judge reads in n stacks of held-out digits, three drawn with replacement (seed 0).

    A stack's channels are read one by one, so its mode is that of the judge's readings of its three digits:
    the 450 readings are made once and combined, which is what judging the n stacked images would give."""
    draws = torch.randint(len(train_and_held_out()[1]), (n, 3), generator=torch.Generator().manual_seed(0))
    modes = judge_at(resolution).held_out_digits[draws.numpy()] @ PLACE_VALUES.numpy()
    return np.bincount(modes, minlength=MODES)


def mode_statistics(counts: np.ndarray) -> dict[str, float]:
    """Modes found, modes holding a quarter of their uniform share, and KL to uniform of a 1,000-mode histogram."""
    counts = np.asarray(counts)
    return {
        "modes": float((counts > 0).sum()),
        "modes_quarter_share": float((counts >= counts.sum() / (4 * MODES)).sum()),
        "kl": kl_to_uniform(counts),
    }


class StackedModes(Metric):
    best_key, higher_is_better = "stacked/modes_then_kl", True  # see the module's docstring

    def __init__(self, n_samples: int = 26000, every: int = 0) -> None:
        super().__init__(every)
        if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
            raise UserError(f"metrics.n_samples must be a positive whole number of generated stacks, got "
                            f"{n_samples!r}. Fix: metrics.n_samples=26000 (PacGAN's count).")
        self.n_samples = n_samples

    def protocol(self) -> dict[str, str]:
        return {"n": str(self.n_samples), "judge": "RBF SVC, C=3, on each channel pooled to 8x8, trained on the "
                "training digits of gan_runner.data.digits.train_and_held_out()"}

    def check(self, dataset: object) -> None:
        if not getattr(dataset, "stacked_digits", False):
            raise UserError(
                f"metrics=stacked counts the 1,000 modes of stacked digits (a scikit-learn digit in each of the R, G "
                f"and B channels), but the dataset is {type(dataset).__name__}, whose samples have shape "
                f"{list(getattr(dataset, 'shape', ()))}. Fix: use it with dataset=stacked_digits, or choose another "
                "metric (metrics=none)."
            )

    def __call__(self, sample: Sampler, dataset: object) -> dict[str, float]:
        resolution = dataset.shape[-1]
        judge = judge_at(resolution)
        counts = np.zeros(MODES, dtype=np.int64)
        for stacks in sample(self.n_samples):  # one batch at a time: 26,000 stacks at 32x32 are 320 MB as floats
            counts += np.bincount(judge.modes(stacks), minlength=MODES)
        fake, real = mode_statistics(counts), mode_statistics(held_out_counts(resolution, self.n_samples))
        return {
            "stacked/modes": fake["modes"],
            "stacked/modes_quarter_share": fake["modes_quarter_share"],
            "stacked/kl": fake["kl"],
            "stacked/modes_then_kl": fake["modes"] + (1 - fake["kl"] / math.log(MODES)) / 2,
            "stacked/judge_accuracy": judge.accuracy,
            "stacked/modes_real": real["modes"],
            "stacked/modes_quarter_share_real": real["modes_quarter_share"],
            "stacked/kl_real": real["kl"],
        }
