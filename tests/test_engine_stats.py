"""engine/stats.py: each statistic's mean over the steps that reported it since the last row (a lazy penalty
in every row), and the first non-finite step named at the next row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_runner.engine.loop import train
from gan_runner.engine.stats import StatsCollector
from tests.conftest import TINY, make_config




def test_the_collector_averages_each_statistic_over_the_steps_that_reported_it() -> None:
    collector = StatsCollector()
    for step in range(8):
        stats = {"loss/d": torch.tensor(float(step))}
        if step % 4 == 1:  # a lazy penalty, on steps 1 and 5
            stats["reg/gp0"] = torch.tensor(10.0 * step)
        collector.add(stats, step)
    assert collector.means() == {"loss/d": pytest.approx(3.5), "reg/gp0": pytest.approx(30.0)}
    assert collector.means() == {}  # a row starts the next one afresh
    collector.add({"loss/g": torch.tensor(2.0)}, 8)
    restored = StatsCollector()
    restored.load_state_dict(collector.state_dict())
    restored.add({"loss/g": torch.tensor(4.0)}, 9)
    assert restored.means() == {"loss/g": pytest.approx(3.0)}


def test_a_lazy_penalty_appears_in_every_row_of_the_ring8_defaults(tmp_path: Path) -> None:
    # ring8: gp0 every 4 D steps, a row every 50 steps. Before, the row held only the last step's
    # statistics, and step 50's D step (number 49) computes no penalty, so no row had reg/gp0.
    cfg = make_config("dataset=ring8", "logger=none", "metrics=none", "train.steps=100", "train.sample_every=1000",
                      "train.device=cpu", *TINY)
    assert cfg.regulariser.gp0.every == 4 and cfg.train.log_every == 50
    train(cfg, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [50, 100]
    assert all(row["reg/gp0"] > 0 for row in rows)


def test_a_non_finite_statistic_names_its_first_step_at_the_next_row() -> None:
    from gan_runner.engine.stopping import Diverged

    collector = StatsCollector()
    for step, value in ((1, 0.5), (2, float("inf")), (3, float("nan")), (4, 0.5)):
        collector.add({"loss/d": torch.tensor(0.1), "loss/g": torch.tensor(value)}, step)
    with pytest.raises(Diverged) as bad:
        collector.check()
    assert (bad.value.quantity, bad.value.first_bad_step) == ("loss/g", 2)
    with pytest.raises(Diverged):
        collector.means()
