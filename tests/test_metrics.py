"""Metrics against hand-made samples whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from gan_runner.data.digits import Digits
from gan_runner.data.toy import Grid, Ring
from gan_runner.errors import UserError
from gan_runner.metrics.digits import DigitsClassifier
from gan_runner.metrics.toy import ToyModes, mode_statistics
from tests.conftest import load_script


def test_perfect_samples_cover_every_mode_with_zero_reverse_kl() -> None:
    ring = Ring()
    samples = ring.centres.repeat(10, 1) + 0.02  # within 3 std = 0.03 of their mode
    stats = mode_statistics(samples, ring.centres, ring.std)
    assert stats == {"toy/modes": 8.0, "toy/high_quality": 1.0, "toy/reverse_kl": pytest.approx(0.0, abs=1e-12),
                     "toy/modes_then_quality": 8.5}


def test_mode_collapse_is_counted() -> None:
    grid = Grid()
    # 900 samples on one mode, 100 far from every mode (between four of them)
    samples = torch.cat([grid.centres[7].repeat(900, 1), torch.full((100, 2), 1.0)])
    stats = mode_statistics(samples, grid.centres, grid.std)
    assert stats["toy/modes"] == 1.0
    assert stats["toy/high_quality"] == pytest.approx(0.9)
    assert stats["toy/reverse_kl"] == pytest.approx(math.log(25))  # KL(delta || uniform over 25)


def test_reverse_kl_of_two_equal_modes() -> None:
    ring = Ring()
    samples = torch.cat([ring.centres[0].repeat(50, 1), ring.centres[3].repeat(50, 1)])
    assert mode_statistics(samples, ring.centres, ring.std)["toy/reverse_kl"] == pytest.approx(math.log(4))


def hand_made_ring_samples(ring: Ring, modes: int, quality: float, n: int = 2500, seed: int = 0) -> torch.Tensor:
    """n points: round(quality x n) within 2 std of the first `modes` centres (taking turns), the rest at the
    ring's centre, 100 std from every mode (low quality)."""
    g = torch.Generator().manual_seed(seed)
    good = round(quality * n)
    angle, radius = torch.rand(good, generator=g) * 2 * math.pi, torch.rand(good, generator=g) * 2 * ring.std
    near = ring.centres[torch.arange(good) % modes] + torch.stack([angle.cos(), angle.sin()], 1) * radius[:, None]
    return torch.cat([near, torch.zeros(n - good, 2)])


def judged(ring: Ring, modes: int, quality: float) -> dict[str, float]:
    stats = mode_statistics(hand_made_ring_samples(ring, modes, quality), ring.centres, ring.std)
    assert (stats["toy/modes"], stats["toy/high_quality"]) == (modes, pytest.approx(quality))  # as made
    return stats


def test_best_checkpoint_prefers_covering_every_mode_to_collapse() -> None:
    ring, metric = Ring(), ToyModes()
    collapsed, covering = judged(ring, 1, 1.0), judged(ring, 8, 0.9)
    assert metric.better(covering[metric.best_key], collapsed[metric.best_key])
    assert not metric.better(collapsed[metric.best_key], covering[metric.best_key])
    # More modes win however poor their quality: one sample on each of 8 modes beats 7 modes at 100 %.
    assert metric.better(judged(ring, 8, 8 / 2500)[metric.best_key], judged(ring, 7, 1.0)[metric.best_key])


def test_best_checkpoint_between_equal_mode_counts_prefers_higher_quality() -> None:
    ring, metric = Ring(), ToyModes()
    for modes in (8, 3):
        worse, better = judged(ring, modes, 0.90), judged(ring, modes, 0.95)
        assert metric.better(better[metric.best_key], worse[metric.best_key])
        assert not metric.better(worse[metric.best_key], better[metric.best_key])
    assert judged(ring, 8, 0.9)[metric.best_key] == 8.45  # the docstring's reading: 8 modes, 90 %


def test_toy_metric_draws_its_samples_and_refuses_images() -> None:
    ring = Ring()
    metric = ToyModes(n_samples=300)
    asked = []

    def sampler(n: int) -> torch.Tensor:
        asked.append(n)
        return ring.sample(n, torch.Generator().manual_seed(0))[0]

    stats = metric(sampler, ring)
    assert asked == [300] and stats["toy/modes"] == 8 and stats["toy/high_quality"] > 0.97
    with pytest.raises(UserError, match="dataset=ring8"):
        metric.check(Digits(resolution=8))


def test_digits_metric_scores_real_digits_as_real_and_noise_as_poor() -> None:
    digits = Digits(resolution=16)
    metric = DigitsClassifier(n_samples=600)

    def real_sampler(n: int) -> torch.Tensor:
        return next(digits.batches(n, torch.Generator().manual_seed(0)))[0]

    real = metric(real_sampler, digits)
    # Real digits (mostly the classifier's own training digits) are at least as convincing as held-out ones.
    assert real["digits/confidence_ratio"] == pytest.approx(1.0, abs=0.05)
    assert real["digits/classes"] == 10 and real["digits/class_kl"] < 0.05
    one_digit = metric(lambda n: real_sampler(n)[:1].repeat(n, 1, 1, 1), digits)
    assert one_digit["digits/classes"] == 1 and one_digit["digits/class_kl"] == pytest.approx(math.log(10))
    noise = metric(lambda n: torch.rand(n, 1, 16, 16) * 2 - 1, digits)
    assert noise["digits/confidence_ratio"] < 0.5  # off the digit manifold the judge is unsure
    # The Fréchet distance: real digits sit near the held-out yardstick; collapse and noise far above it.
    assert real["digits/frechet"] < 2 * real["digits/frechet_real"]
    assert one_digit["digits/frechet"] > 10 * real["digits/frechet_real"]
    assert noise["digits/frechet"] > 10 * real["digits/frechet_real"]
    with pytest.raises(UserError, match="dataset=digits"):
        metric.check(Ring())


def test_toy_table_counts_a_diverged_run_as_covering_nothing() -> None:
    toy_table = load_script("toy_table")
    good = {"dataset": "ring8", "objective": "hinge", "regulariser": "gp", "status": "completed",
            "toy/modes": 8.0, "toy/high_quality": 0.9, "toy/reverse_kl": 0.01, "wall_time_s": 60.0}
    rows = [{**good, "seed": 0}, {**good, "seed": 1},
            {**good, "seed": 0, "regulariser": "none", "toy/high_quality": 0.5},
            {**good, "seed": 1, "regulariser": "none", "toy/high_quality": 0.7},
            {"dataset": "ring8", "objective": "hinge", "regulariser": "spectral_norm", "seed": 0,
             "status": "diverged", "diverged_step": 12, "wall_time_s": 1.0}]
    text = toy_table.table(rows, ["ring8"], ["hinge"], ["none", "gp", "spectral_norm"])
    row = next(line for line in text.splitlines() if line.startswith("| hinge"))
    # none: mean of 50 % and 70 %, not bold (one seed below 70 %); gp: bold; spectral_norm: one seed, diverged
    assert row == ("| hinge | 8.0 / 60.0 / 0.01 | **8.0 / 90.0 / 0.01** | "
                   "0.0 / 0.0 / inf (1 diverged) (1 seed) |")
