"""dataset=stacked_digits and metrics=stacked: stacks whose modes are known, the shared split, a gan-run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator

import pytest
import torch
from sklearn.datasets import load_digits

from gan_runner.data.digits import Digits, digit_images, train_and_held_out
from gan_runner.data.stacked_digits import StackedDigits
from gan_runner.errors import UserError
from gan_runner.metrics.digits import DigitsClassifier
from gan_runner.metrics.stacked import StackedModes, judge_at, to_signed
from tests.conftest import run, wandb_records

TRAIN, HELD_OUT = (torch.from_numpy(part) for part in train_and_held_out())
CLASSES = digit_images(8)[1]


class Stacks:
    """Stacks of chosen digits of load_digits(), made as dataset=stacked_digits makes its own, served as a
    run's sampler serves a metric: batch by batch."""

    def __init__(self, index: torch.Tensor, resolution: int) -> None:
        self.index = index  # N x 3: the digit in R, G and B
        self.images = digit_images(resolution)[0]
        self.shape, self.stacked_digits = (3, resolution, resolution), True  # what the metric asks of a dataset

    def sample(self, n: int) -> Iterator[torch.Tensor]:
        assert n == len(self.index), "the metric asks for its n_samples"
        return (to_signed(self.images[chunk].squeeze(2)) for chunk in self.index.split(1000))

    def judged(self, metric: StackedModes) -> dict[str, float]:
        return metric(self.sample, self)


def held_out_stacks(n: int, seed: int) -> torch.Tensor:
    """n x 3 held-out digits drawn with replacement."""
    return HELD_OUT[torch.randint(len(HELD_OUT), (n, 3), generator=torch.Generator().manual_seed(seed))]


def read_correctly(digit_class: int, resolution: int) -> torch.Tensor:
    """A held-out digit of a class that the judge at `resolution` reads as that class."""
    right = torch.from_numpy(judge_at(resolution).held_out_digits) == CLASSES[HELD_OUT]
    return HELD_OUT[right & (CLASSES[HELD_OUT] == digit_class)][0]


def stacks_of_modes(counts: dict[int, int], resolution: int) -> Stacks:
    """`count` stacks of each mode, of digits the judge reads correctly."""
    rows = [torch.stack([read_correctly(int(d), resolution) for d in f"{mode:03d}"]).repeat(count, 1)
            for mode, count in counts.items()]
    return Stacks(torch.cat(rows), resolution)


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_real_held_out_stacks_find_every_mode_with_a_kl_near_zero(resolution: int) -> None:
    """26,000 stacks of held-out real digits: at least 990 modes and KL < 0.05, as the metric's own yardstick."""
    scores = Stacks(held_out_stacks(26000, seed=1), resolution).judged(StackedModes(n_samples=26000))
    # Bound: 26,000 draws over 1,000 equally likely modes leave KL ~ 999 / (2 x 26,000) = 0.019 (sd 0.0009);
    # 0.05 leaves 0.03 for the judge's errors (0.7 % of digits) and the classes' unequal shares.
    assert scores["stacked/modes"] >= 990 and scores["stacked/kl"] < 0.05
    assert scores["stacked/modes_quarter_share"] >= 990
    assert scores["stacked/modes_real"] >= 990 and scores["stacked/kl_real"] < 0.05
    assert scores["stacked/judge_accuracy"] > 0.98


def test_one_repeated_stack_is_one_mode_with_the_largest_kl() -> None:
    """Every sample the same stack: 1 mode, KL = log 1000, and modes_then_kl reads 1 mode."""
    scores = stacks_of_modes({472: 2000}, 16).judged(StackedModes(n_samples=2000))
    assert scores["stacked/modes"] == scores["stacked/modes_quarter_share"] == 1
    assert scores["stacked/kl"] == pytest.approx(math.log(1000))
    assert scores["stacked/modes_then_kl"] == pytest.approx(1.0)


def test_ten_equally_full_modes_give_kl_log_100() -> None:
    """200 samples on each of 10 modes: 10 modes, KL = log(1000 / 10)."""
    modes = [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]
    scores = stacks_of_modes({mode: 200 for mode in modes}, 8).judged(StackedModes(n_samples=2000))
    assert scores["stacked/modes"] == scores["stacked/modes_quarter_share"] == 10
    assert scores["stacked/kl"] == pytest.approx(math.log(100), abs=1e-9)
    assert scores["stacked/modes_then_kl"] == pytest.approx(10 + (1 - math.log(100) / math.log(1000)) / 2)


def test_best_checkpoint_prefers_more_modes_then_a_lower_kl() -> None:
    """modes_then_kl: more modes win however uneven; between equal counts the more even histogram wins."""
    metric = StackedModes(n_samples=8000)  # a quarter share: 8,000 / 4,000 = 2 samples
    even = stacks_of_modes({mode: 800 for mode in range(10)}, 8).judged(metric)
    uneven = stacks_of_modes({0: 7991, **{mode: 1 for mode in range(1, 10)}}, 8).judged(metric)
    more = stacks_of_modes({0: 7990, **{mode: 1 for mode in range(1, 11)}}, 8).judged(metric)
    assert (even["stacked/modes"], uneven["stacked/modes"], more["stacked/modes"]) == (10, 10, 11)
    assert (even["stacked/modes_quarter_share"], uneven["stacked/modes_quarter_share"]) == (10, 1)  # strays: 1 each
    assert metric.better(even[metric.best_key], uneven[metric.best_key])
    assert metric.better(more[metric.best_key], even[metric.best_key])
    assert not metric.better(uneven[metric.best_key], even[metric.best_key])


def test_labels_are_the_digits_in_the_channels() -> None:
    """Each stack's channels are the images of its source digits, and its label is 100 R + 10 G + B of their classes."""
    dataset = StackedDigits(resolution=16, size=3000, seed=5)
    images = digit_images(16)[0]
    assert dataset.shape == (3, 16, 16) and dataset.images.dtype == torch.uint8 and dataset.num_classes == 1000
    for channel in range(3):
        assert torch.equal(dataset.images[:, channel], images[dataset.digit_index[:, channel], 0])
    classes = CLASSES[dataset.digit_index]
    assert torch.equal(dataset.labels, 100 * classes[:, 0] + 10 * classes[:, 1] + classes[:, 2])
    x, y = next(dataset.batches(64, torch.Generator().manual_seed(0)))
    assert x.shape == (64, 3, 16, 16) and x.min() >= -1 and x.max() <= 1 and y.max() < 1000
    assert torch.equal(StackedDigits(resolution=16, size=3000, seed=5).images, dataset.images)  # the dataset's seed
    assert not torch.equal(StackedDigits(resolution=16, size=3000, seed=6).images, dataset.images)


def test_held_out_digits_are_never_stacked_and_both_judges_hold_out_the_same() -> None:
    """The stacks use training digits only (nearly all of them); metrics=digits holds out the same 450."""
    used = set(StackedDigits(resolution=8).digit_index.unique().tolist())
    assert used.isdisjoint(HELD_OUT.tolist()) and used <= set(TRAIN.tolist()) and len(used) > 0.99 * len(TRAIN)
    held_out_images = torch.from_numpy(load_digits().images[HELD_OUT.numpy()]).float().unsqueeze(1) / 16
    assert torch.equal(DigitsClassifier(n_samples=10).held_out, held_out_images)


def test_check_refuses_a_dataset_that_is_not_stacked_digits() -> None:
    """A one-channel dataset gets one paragraph naming dataset=stacked_digits; stacked digits pass."""
    metric = StackedModes()
    with pytest.raises(UserError, match=r"shape \[1, 8, 8\].*Fix: use it with dataset=stacked_digits"):
        metric.check(Digits(resolution=8))
    metric.check(StackedDigits(resolution=8, size=10))
    with pytest.raises(UserError, match="dataset.size"):
        StackedDigits(size=0)
    with pytest.raises(UserError, match="metrics.n_samples"):
        StackedModes(n_samples=0)


def test_gan_run_logs_the_modes_to_the_summary_and_to_wandb(tmp_path: Path) -> None:
    """A tiny gan-run dataset=stacked_digits: stacked/* in summary.json (best.pt by modes_then_kl) and in W&B."""
    run("gan-run", "dataset=stacked_digits", "dataset.resolution=8", "dataset.size=2000", "metrics.n_samples=2000",
        "train.steps=4", "train.log_every=2", "train.sample_every=4", "train.checkpoint_every=4", "train.batch_size=16",
        "arch.generator.width=8", "arch.discriminator.width=8", "train.device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    metrics = summary["metrics"]
    assert summary["status"] == "completed" and 1 <= metrics["stacked/modes"] <= 1000
    assert metrics["stacked/modes_real"] >= 850  # 2,000 real stacks over 1,000 modes: 1000 (1 - e^-2) = 865 expected
    assert summary["best"]["key"] == "stacked/modes_then_kl"
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
    records = wandb_records(tmp_path / "run")
    logged = [r["history"]["item"] for r in records if r["type"] == "history"]
    summaries = [r["summary"]["update"] for r in records if r["type"] == "summary"]
    assert any(row.get("stacked/modes") == metrics["stacked/modes"] for row in logged)
    assert any("stacked/modes" in update for update in summaries)
