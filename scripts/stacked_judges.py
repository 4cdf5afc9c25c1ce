"""Why metrics=stacked reads digits with the judge it has, and the yardsticks it reports.

    OMP_NUM_THREADS=1 python scripts/stacked_judges.py [--n 26000]

1. Candidate judges at resolutions 8, 16 and 32, each trained on the training digits of
   gan_runner.data.digits.train_and_held_out after the metric's round trip (resized as the dataset resizes
   them, quantised to uint8, pooled back to 8x8): accuracy on the 450 held-out digits, seconds to train, and
   seconds to read 78,000 channels (26,000 stacks). The RBF SVC's C comes from 5-fold cross-validation on the
   training digits alone, printed first, so that the held-out digits choose nothing.
2. The metric itself (StackedModes) at each resolution: the judge's held-out accuracy, and the modes, modes at a
   quarter share and KL of n stacks of held-out real digits (the yardstick it logs as stacked/*_real).
3. What it gives uniform noise and blank images at 32x32 (a judge names a digit for anything), and the seconds
   of one call on n stacks at 32x32 given as images: the first call (judge trained, yardstick made) and a later one.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from gan_runner.data.digits import digit_images, train_and_held_out
from gan_runner.metrics.digits import to_8x8
from gan_runner.metrics.stacked import StackedModes, held_out_counts, judge_at, mode_statistics, to_signed

RESOLUTIONS = (8, 16, 32)
CANDIDATES = {
    "logistic regression": lambda: LogisticRegression(max_iter=5000),
    "MLP, 64 hidden": lambda: MLPClassifier((64,), max_iter=500, random_state=0),
    "MLP, 256 hidden": lambda: MLPClassifier((256,), max_iter=500, random_state=0),
    "1 nearest neighbour": lambda: KNeighborsClassifier(1),
    "3 nearest neighbours": lambda: KNeighborsClassifier(3),
    "RBF SVC, C=1": lambda: SVC(C=1.0),
    "RBF SVC, C=3 (the metric's)": lambda: SVC(C=3.0),
}


class StackedDigitsShape:
    """What the metric asks of a dataset: the samples' shape and the stacked-digits declaration."""

    stacked_digits = True

    def __init__(self, resolution: int) -> None:
        self.shape = (3, resolution, resolution)


def round_trip(resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images, classes = digit_images(resolution)
    train, held_out = train_and_held_out()
    pooled = to_8x8(to_signed(images))
    return pooled[train], classes[train].numpy(), pooled[held_out], classes[held_out].numpy()


def compare_judges(n: int) -> None:
    print("5-fold cross-validated accuracy of the RBF SVC on the training digits (chooses C):")
    for resolution in RESOLUTIONS:
        train_x, train_y, _, _ = round_trip(resolution)
        scores = {c: cross_val_score(SVC(C=c), train_x, train_y, cv=5).mean() for c in (1.0, 3.0, 10.0)}
        print(f"  {resolution:2d}x{resolution:<2d} " + ", ".join(f"C={c:g}: {s:.4f}" for c, s in scores.items()))
    print(f"\n| judge | resolution | held-out accuracy | train (s) | read {3 * n:,} channels (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, make in CANDIDATES.items():
        for resolution in RESOLUTIONS:
            train_x, train_y, test_x, test_y = round_trip(resolution)
            judge, start = make(), time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the MLPs' convergence chatter
                judge.fit(train_x, train_y)
            trained = time.perf_counter() - start
            accuracy = (judge.predict(test_x) == test_y).mean()
            many = np.resize(test_x, (3 * n, test_x.shape[1]))
            start = time.perf_counter()
            judge.predict(many)
            print(f"| {name} | {resolution} | {accuracy:.4f} | {trained:.2f} | {time.perf_counter() - start:.2f} |")


def yardsticks(n: int) -> None:
    print("\n| resolution | judge accuracy | real modes | real modes (quarter share) | real KL | n |")
    print("|---:|---:|---:|---:|---:|---:|")
    for resolution in RESOLUTIONS:
        real = mode_statistics(held_out_counts(resolution, n))
        print(f"| {resolution} | {judge_at(resolution).accuracy:.4f} | {real['modes']:.0f} | "
              f"{real['modes_quarter_share']:.0f} | {real['kl']:.4f} | {n:,} |")
    print(f"(a perfect judge on n stacks of equally likely modes: expected KL about 999 / (2n) = {999 / (2 * n):.4f})")


def odd_inputs_and_time(n: int) -> None:
    metric, dataset = StackedModes(n_samples=n), StackedDigitsShape(32)
    generator = torch.Generator().manual_seed(0)
    for name, make in (("uniform noise", lambda: torch.rand(500, 3, 32, 32, generator=generator) * 2 - 1),
                       ("blank (all -1)", lambda: -torch.ones(500, 3, 32, 32))):
        scores = metric(lambda count: (make() for _ in range(0, count, 500)), dataset)
        print(f"{name}: modes {scores['stacked/modes']:.0f}, quarter share "
              f"{scores['stacked/modes_quarter_share']:.0f}, KL {scores['stacked/kl']:.3f}")
    images, _ = digit_images(32)
    held_out = torch.from_numpy(train_and_held_out()[1])
    draws = torch.randint(len(held_out), (n, 3), generator=torch.Generator().manual_seed(0))
    stacks = to_signed(images[held_out[draws]].squeeze(2))
    for call in ("first call (judge trained, yardstick made)", "later call"):
        if call.startswith("first"):
            judge_at.cache_clear()
            held_out_counts.cache_clear()
        start = time.perf_counter()
        scores = metric(lambda count: iter(stacks[:count].split(500)), dataset)
        print(f"{n:,} real held-out stacks at 32x32 as images, {call}: {time.perf_counter() - start:.2f} s, "
              f"modes {scores['stacked/modes']:.0f}, KL {scores['stacked/kl']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=26000, help="stacks a metric call judges (PacGAN: 26,000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    compare_judges(args.n)
    yardsticks(args.n)
    odd_inputs_and_time(args.n)


if __name__ == "__main__":
    main()
