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
    assert stats == {"toy/modes": 8.0, "toy/high_quality": 1.0, "toy/reverse_kl": pytest.approx(0.0, abs=1e-12)}


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


def test_toy_table_rewrites_only_its_section_of_a_docs_page(tmp_path) -> None:
    toy_table = load_script("toy_table")
    page = tmp_path / "docs" / "results" / "toy2d.md"
    toy_table.write_doc(page, "toy_table", "| old | table |\n")  # no page yet: made, with the markers
    assert page.read_text() == ("<!-- toy_table.py toy_table: begin -->\n| old | table |\n"
                                "<!-- toy_table.py toy_table: end -->\n")
    page.write_text("# Title\n\nRebuilt by ...\n\n" + page.read_text() + "\nFindings, ![p](../p.png)\n")
    toy_table.write_doc(page, "toy_table_gp0", "| gp0 |")  # another section: appended, the first kept
    toy_table.write_doc(page, "toy_table", "| new | table |\n\nMade by `python scripts/toy_table.py`.\n")
    assert page.read_text() == (
        "# Title\n\nRebuilt by ...\n\n"
        "<!-- toy_table.py toy_table: begin -->\n| new | table |\n\nMade by `python scripts/toy_table.py`.\n"
        "<!-- toy_table.py toy_table: end -->\n\nFindings, ![p](../p.png)\n\n"
        "<!-- toy_table.py toy_table_gp0: begin -->\n| gp0 |\n<!-- toy_table.py toy_table_gp0: end -->\n")
