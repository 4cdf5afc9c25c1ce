"""Metrics against hand-made samples whose answers are known."""

from __future__ import annotations

import math
from typing import Iterator

import pytest
import torch

from gan_runner.data.digits import Digits
from gan_runner.data.toy import Grid, Ring
from gan_runner.engine.sampling import draw, draw_batches
from gan_runner.data.prepared import cache_home
from gan_runner.errors import UserError
from gan_runner.metrics import digits as digits_metric
from gan_runner.metrics.digits import DigitsClassifier, fit_judges
from gan_runner.metrics.toy import ToyModes, mode_statistics




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

    def sampler(n: int) -> Iterator[torch.Tensor]:
        asked.append(n)
        points, modes = ring.sample(n, torch.Generator().manual_seed(0))
        return iter(points[modes.argsort()].split(50))  # mode by mode: the first batch alone covers two

    stats = metric(sampler, ring)
    assert asked == [300] and stats["toy/modes"] == 8 and stats["toy/high_quality"] > 0.97
    with pytest.raises(UserError, match="dataset=ring8"):
        metric.check(Digits(resolution=8))


def test_digits_metric_scores_real_digits_as_real_and_noise_as_poor() -> None:
    digits = Digits(resolution=16)
    metric = DigitsClassifier(n_samples=600)

    def real_digits(n: int) -> torch.Tensor:
        return next(digits.batches(n, torch.Generator().manual_seed(0)))[0]

    def in_batches(images: torch.Tensor) -> Iterator[torch.Tensor]:
        return iter(images.split(128))

    real = metric(lambda n: in_batches(real_digits(n)), digits)
    # Real digits (mostly the classifier's own training digits) are at least as convincing as held-out ones.
    assert real["digits/confidence_ratio"] == pytest.approx(1.0, abs=0.05)
    assert real["digits/classes"] == 10 and real["digits/class_kl"] < 0.05
    one_digit = metric(lambda n: in_batches(real_digits(n)[:1].repeat(n, 1, 1, 1)), digits)
    assert one_digit["digits/classes"] == 1 and one_digit["digits/class_kl"] == pytest.approx(math.log(10))
    noise = metric(lambda n: in_batches(torch.rand(n, 1, 16, 16) * 2 - 1), digits)
    assert noise["digits/confidence_ratio"] < 0.5  # off the digit manifold the judge is unsure
    # The Fréchet distance: real digits sit near the held-out yardstick; collapse and noise far above it.
    assert real["digits/frechet"] < 2 * real["digits/frechet_real"]
    assert one_digit["digits/frechet"] > 10 * real["digits/frechet_real"]
    assert noise["digits/frechet"] > 10 * real["digits/frechet_real"]
    with pytest.raises(UserError, match="dataset=digits"):
        metric.check(Ring())


def test_fitted_digit_judges_are_kept_on_disk_and_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digits_metric, "_FITTED", {})  # as in a new process
    first = DigitsClassifier(n_samples=10)
    (kept,) = (cache_home() / "judges").glob("sklearn_digits-8px-seed0-sklearn*.pkl")
    monkeypatch.setattr(digits_metric, "_FITTED", {})

    def refuse(*args: object) -> None:
        raise AssertionError("fitted again although a fitted judge was kept")

    monkeypatch.setattr(digits_metric, "fit_judges", refuse)
    again = DigitsClassifier(n_samples=10)
    assert (again.classifier.predict_proba(first.train_x[:50]) == first.classifier.predict_proba(first.train_x[:50])).all()
    kept.write_bytes(b"half a fil")  # a damaged file is fitted anew, not an error
    monkeypatch.setattr(digits_metric, "_FITTED", {})
    fits = []
    monkeypatch.setattr(digits_metric, "fit_judges", lambda *args: fits.append(args) or fit_judges(*args))
    assert DigitsClassifier(n_samples=10).classifier.predict(first.train_x[:5]).shape == (5,) and len(fits) == 1


class TinyGenerator(torch.nn.Module):
    """z (and a class, when num_classes is set) -> 1 x 4 x 4 images."""

    def __init__(self, z_dim: int, num_classes: int | None = None) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.num_classes = num_classes
            self.linear = torch.nn.Linear(z_dim, 16)
            self.embedding = torch.nn.Embedding(num_classes, 16) if num_classes else None

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(z) if y is None else self.linear(z) + self.embedding(y)
        return h.tanh().view(-1, 1, 4, 4)


@pytest.mark.parametrize("num_classes", [None, 10])
def test_draw_batches_yields_drawing_in_pieces_the_samples_draw_makes(num_classes: int | None) -> None:
    z_dim, n, seed = 3, 1234, 7
    generator = TinyGenerator(z_dim, num_classes)
    # The recipe draw has always followed: all n z from the seed, then (conditional G) all n classes, in 500s.
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, z_dim, generator=rng)
    with torch.no_grad():
        if num_classes is None:
            expected = torch.cat([generator(chunk) for chunk in z.split(500)])
        else:
            labels = torch.randint(num_classes, (n,), generator=rng)
            expected = torch.cat([generator(chunk, y) for chunk, y in zip(z.split(500), labels.split(500))])
    batches = list(draw_batches(generator, z_dim, n, seed=seed))
    assert [len(b) for b in batches] == [500, 500, 234]
    assert torch.equal(torch.cat(batches), expected) and torch.equal(draw(generator, z_dim, n, seed=seed), expected)
    assert torch.equal(torch.cat(list(draw_batches(generator, z_dim, n, seed=seed))), expected)  # every call alike
    small = list(draw_batches(generator, z_dim, n, seed=seed, batch_size=100))
    assert [len(b) for b in small] == [100] * 12 + [34]
    assert torch.allclose(torch.cat(small), expected, atol=1e-6)  # other batches: the same samples, in order
    assert not torch.allclose(draw(generator, z_dim, n, seed=seed + 1), expected, atol=0.1)


def test_draw_batches_of_one_class() -> None:
    generator = TinyGenerator(3, num_classes=10)
    z = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = generator(z, torch.full((20,), 4))
    drawn = torch.cat(list(draw_batches(generator, 3, 20, seed=0, y=4, batch_size=8)))
    assert torch.allclose(drawn, expected, atol=1e-6)
