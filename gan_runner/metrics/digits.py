"""Sample quality on the digits dataset with no download: a classifier trained on real 8x8 digits judges
generated ones.

The judge is an RBF support-vector classifier with libsvm's pairwise-coupled Platt probabilities. Its
confidence drops off the digit manifold (uniform noise: about 0.21 mean top-class probability, real
held-out digits: 0.89-0.93), where a logistic regression's does not (noise: 0.85, real: 0.97), so a high
confidence ratio means digit-like samples rather than high-contrast ones.

Generated images are average-pooled back to 8x8 and scaled to the original 0-16 range. Held-out real
digits, sent through the same resize-to-resolution-and-back round trip, are the yardstick:
`digits/confidence_ratio` is the classifier's mean top-class probability on generated digits divided
by that on held-out real digits; `digits/classes` counts the classes predicted for at least 1% of the
generated digits; `digits/class_kl` is the KL divergence of the predicted-class histogram to uniform
(0 when every class is equally common, log 10 = 2.30 when all samples are one class).
`digits/frechet` is a FID-like Fréchet distance between generated and training digits in the hidden layer
(64 ReLU units) of a small network trained on the training digits; `digits/frechet_real` the same for
the held-out real digits, the yardstick. It punishes mode collapse, which the confidence cannot see.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from gan_runner.data import to_uint8_images
from gan_runner.data.digits import train_and_held_out
from gan_runner.errors import UserError
from gan_runner.metrics import Metric, Sampler, kl_to_uniform
from gan_runner.metrics.fid import frechet_distance


def to_8x8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (N x 1 x H x W) -> N x 64 in the digits' own 0-16 range."""
    pooled = F.adaptive_avg_pool2d(images.float().cpu(), 8)
    return ((pooled.flatten(1) + 1) * 8).numpy()


class DigitsClassifier(Metric):
    best_key = "digits/frechet"  # checkpoints/best.pt: the lowest Fréchet distance (higher_is_better False)

    def __init__(self, n_samples: int = 1000, every: int = 0, seed: int = 0) -> None:
        super().__init__(every)
        self.n_samples = n_samples
        digits = load_digits()
        train, held_out = train_and_held_out(seed)  # the split metrics=stacked and dataset=stacked_digits use too
        train_x, test_x, train_y = digits.images[train], digits.images[held_out], digits.target[train]
        with warnings.catch_warnings():  # scikit-learn 1.9 deprecates `probability` (pinned below 1.11)
            warnings.simplefilter("ignore", FutureWarning)
            self.classifier = SVC(probability=True, random_state=seed)
            self.classifier.fit(train_x.reshape(len(train_x), -1), train_y)
        self.train_x, self.train_y = train_x.reshape(len(train_x), -1), train_y  # for other judges to share
        # A small network's hidden layer is the feature space of a FID-like Fréchet distance to the training
        # digits (an SVC has no such layer); trained once, in about a second.
        self.featuriser = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; its accuracy is ~97% on held-out digits
            self.featuriser.fit(self.train_x / 16, train_y)
        self.train_statistics = self._statistics(self.train_x)
        self.held_out = torch.from_numpy(test_x).float().unsqueeze(1) / 16.0
        self._yardsticks: dict[int, dict[str, float]] = {}

    def features(self, x: np.ndarray) -> np.ndarray:
        """The featuriser's hidden ReLU layer for N x 64 digits in the 0-16 range."""
        return np.maximum(x / 16 @ self.featuriser.coefs_[0] + self.featuriser.intercepts_[0], 0)

    def _statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = self.features(x).astype(np.float64)
        return features.mean(0), np.cov(features, rowvar=False)

    def score(self, images: torch.Tensor) -> dict[str, float]:
        digits = to_8x8(images)
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
                f"{list(shape)}. Fix: use it with dataset=digits, or choose metrics=none."
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
