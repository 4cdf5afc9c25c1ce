"""A budget that would take days says so (engine/forecast.py): once the speed is known, one warning with the
estimated time and the ways out when it exceeds train.warn_after_h, and the estimate in summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gan_runner.engine.forecast import WARMUP_S, WARMUP_STEPS, Forecast, duration
from tests.conftest import RING, run


def test_the_estimate_skips_the_warm_up_and_waits_for_its_window() -> None:
    forecast = Forecast(first=0, last=100_000, began=990.0)
    for step in range(1, WARMUP_STEPS):  # the first steps are slow (imports, kernels tuned): not measured
        assert forecast.observe(step, now=990.0 + step, elapsed=990.0 + step) is None
    assert forecast.observe(WARMUP_STEPS, now=1000.0, elapsed=1000.0) is None  # the window opens
    assert forecast.observe(WARMUP_STEPS + 100, now=1010.0, elapsed=1010.0) is None  # 100 steps in 10 s: not yet
    estimate = forecast.observe(WARMUP_STEPS + 300, now=1030.0, elapsed=1030.0)  # 300 steps: 10 steps/s
    assert estimate.steps_per_s == pytest.approx(10.0)
    assert estimate.total_s == pytest.approx(1030.0 + (100_000 - WARMUP_STEPS - 300) / 10.0)
    assert forecast.observe(WARMUP_STEPS + 400, now=1040.0, elapsed=1040.0) is None  # once
    assert forecast.summary() == {"estimated_total_s": round(estimate.total_s, 1)}


def test_a_slow_run_is_estimated_after_a_minute_and_a_short_one_after_a_quarter_of_its_steps() -> None:
    slow = Forecast(first=500, last=200_000, began=0.0)  # resumed at step 500; 30 s a step
    assert slow.observe(501, now=WARMUP_S + 15, elapsed=40.0) is None  # its first step was its warm-up
    assert slow.observe(502, now=WARMUP_S + 45, elapsed=70.0) is None
    assert slow.observe(503, now=WARMUP_S + 75, elapsed=100.0).steps_per_s == pytest.approx(2 / 60)
    short = Forecast(first=0, last=50, began=0.0)
    short.observe(WARMUP_STEPS, now=0.5, elapsed=1.0)
    assert short.observe(WARMUP_STEPS + 10, now=1.5, elapsed=2.0).total_s == pytest.approx(2.0 + 30 / 10)
    over_before_its_speed_was_known = Forecast(first=0, last=4, began=0.0)
    assert over_before_its_speed_was_known.summary() == {"estimated_total_s": None}


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration(s) for s in (45, 720, 12_240, 3_600_000)] == ["45 s", "12 min", "3.4 h", "1,000 h (42 days)"]


@pytest.mark.parametrize("warn_after_h, warnings", [(0.000001, 1), (1000, 0)])
def test_a_run_longer_than_warn_after_h_says_so_once_with_the_ways_out(tmp_path: Path, warn_after_h: float,
                                                                      warnings: int) -> None:
    done = run("gan-run", *RING, "train.steps=60", "train.log_every=5", f"train.warn_after_h={warn_after_h}",
               "hydra.run.dir=run", cwd=tmp_path)
    log = (tmp_path / "run" / "gan-run.log").read_text()
    lines = [line for line in log.splitlines() if "will take about" in line]
    assert len(lines) == warnings, lines  # once, not at every log row
    if warnings:
        assert "train.steps=" in lines[0] and "debug=fast" in lines[0] and "train.device=cuda" in lines[0]
        assert "train.warn_after_h=1e-06" in lines[0]
        assert "will take about" in done.stdout + done.stderr  # on the console too
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["estimated_total_s"] > 0
