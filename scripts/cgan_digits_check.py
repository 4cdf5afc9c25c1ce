"""Does a class-conditional digits run draw the class it is asked for?

    gan-run experiment=cgan_digits logger=none
    python scripts/cgan_digits_check.py RUN_DIR [--n 200] [--threshold 0.8] [--seed 0]

For each class K it runs `gan-sample run_dir=RUN_DIR n=N y=K seed=S out=RUN_DIR/class_check/class_K.npz`
(the command's own code, in this process), pools the samples to 8x8 and lets the digits metric's judge (an
RBF support-vector classifier trained on 75% of the real 8x8 digits) name their class. Agreement is the
fraction named K. For scale, the table also gives the judge's accuracy on the held-out real digits of each
class. Prints a markdown table; exits 1 when any class agrees below the threshold, else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from gan_runner.metrics.digits import DigitsClassifier, to_8x8
from gan_runner.commands.sample import main as gan_sample

CLASSES = range(10)


def held_out_accuracy(judge: DigitsClassifier) -> dict[int, float]:
    """The judge's accuracy per class on the real digits it did not train on (the metric's own split)."""
    digits = load_digits()
    _, test_x, _, test_y = train_test_split(digits.images, digits.target, test_size=0.25, random_state=0,
                                            stratify=digits.target)
    predicted = judge.classifier.predict(test_x.reshape(len(test_x), -1))
    return {k: float((predicted[test_y == k] == k).mean()) for k in CLASSES}


def check(run_dir: Path, n: int = 200, seed: int = 0) -> tuple[str, dict[int, float]]:
    """The markdown table and each class's agreement."""
    judge = DigitsClassifier(seed=0)
    real = held_out_accuracy(judge)
    out = run_dir / "class_check"
    agreement: dict[int, float] = {}
    rows = ["| class | samples | judged as the class | judge's accuracy on real held-out digits |",
            "|---:|---:|---:|---:|"]
    for k in CLASSES:
        file = out / f"class_{k}.npz"
        with contextlib.redirect_stdout(io.StringIO()):  # gan-sample's "wrote ..." line, ten times
            gan_sample([f"run_dir={run_dir}", f"n={n}", f"y={k}", f"seed={seed}", f"out={file}"])
        samples = torch.from_numpy(np.load(file)["x"])
        predicted = judge.classifier.predict(to_8x8(samples))
        agreement[k] = float((predicted == k).mean())
        rows.append(f"| {k} | {n} | {agreement[k]:.1%} | {real[k]:.1%} |")
    mean = sum(agreement.values()) / len(agreement)
    rows.append(f"| all | {n * len(CLASSES)} | {mean:.1%} (lowest {min(agreement.values()):.1%}) | "
                f"{sum(real.values()) / len(real):.1%} |")
    return "\n".join(rows), agreement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a finished conditional digits run (holds checkpoints/last.pt)")
    parser.add_argument("--n", type=int, default=200, help="samples per class")
    parser.add_argument("--seed", type=int, default=0, help="gan-sample's seed")
    parser.add_argument("--threshold", type=float, default=0.8, help="the lowest acceptable agreement per class")
    args = parser.parse_args(argv)
    table, agreement = check(args.run_dir, args.n, args.seed)
    print(table)
    failing = [k for k, value in agreement.items() if value < args.threshold]
    if failing:
        print(f"\nFAIL: classes {failing} agree below {args.threshold:.0%}.")
        return 1
    print(f"\nPASS: every class agrees at least {args.threshold:.0%}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
