"""How convincing a digits run's samples are to two classifiers trained on real 8x8 digits.

    python scripts/digits_judges.py RUN_DIR [--n 1000]

For each judge: its mean top-class probability on N samples of the run's EMA generator (pooled to 8x8),
on held-out real digits, their ratio, and how many samples it puts in each class.
- svc: the RBF support-vector classifier that the `digits` metric logs (confident only near real digits:
  uniform noise gets about 0.23 of real digits' confidence).
- logistic: a logistic regression on raw pixels, the judge of the project's first probes; it is
  over-confident off the digit manifold (uniform noise gets about 0.88 of real), so read it as a ceiling.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from gan_runner.metrics.digits import DigitsClassifier, to_8x8
from gan_runner.commands.sample import load_generator
from gan_runner.engine.sampling import draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    fake = to_8x8(draw(*load_generator(args.run_dir), args.n, seed=12345))
    metric = DigitsClassifier()  # the logged judge, with its train/held-out split of the real digits
    real = to_8x8(metric.held_out * 2 - 1)
    train_x, train_y = metric.train_x, metric.train_y
    judges = {"svc": metric.classifier, "logistic": LogisticRegression(max_iter=5000).fit(train_x, train_y)}
    for name, judge in judges.items():
        on_fake, on_real = judge.predict_proba(fake), judge.predict_proba(real)
        ratio = on_fake.max(1).mean() / on_real.max(1).mean()
        counts = np.bincount(on_fake.argmax(1), minlength=10)
        print(f"{name:8s} confidence on samples {on_fake.max(1).mean():.3f}, on held-out real digits "
              f"{on_real.max(1).mean():.3f}, ratio {ratio:.3f}; samples per class {counts.tolist()}")


if __name__ == "__main__":
    main()
