"""Training statistics, averaged between log rows."""

from __future__ import annotations

from typing import Any

import torch


class StatsCollector:
    """Each statistic's mean over the steps that reported it since the last row, as stylegan2-ada's
    training_stats: a lazy penalty computed on one step in four is the mean of those steps, not lost because
    the row's last step skipped it. Sums stay on the device; a row fetches them in one transfer. Its state is
    part of the training state, so a run resumed between two rows writes the same row as an uninterrupted one."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for key, value in stats.items():
            value = value.detach().double()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        """The means since the last call, which starts the next row afresh."""
        if not self.sums:
            return {}
        totals = torch.stack(list(self.sums.values())).cpu().tolist()
        means = {key: total / self.counts[key] for key, total in zip(self.sums, totals)}
        self.sums, self.counts = {}, {}
        return means

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {key: value.cpu() for key, value in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums, self.counts = dict(state["sums"]), dict(state["counts"])
