"""Training statistics, averaged between log rows, and the divergence check that rides on them."""

from __future__ import annotations

from typing import Any

import torch

from gan_runner import distributed
from gan_runner.engine.stopping import Diverged

NEVER = float(2**62)  # "no bad step yet"; exact in float64, beyond any run's length


class StatsCollector:
    """Each statistic's mean over the steps that reported it since the last row, as stylegan2-ada's
    training_stats: a lazy penalty computed on one step in four is the mean of those steps, not lost because
    the row's last step skipped it.

    Nothing is fetched from the device between rows: sums stay there, and so does the first step whose
    statistics held a NaN or an infinity. A row (`means`) or a checkpoint (`check`) fetches them in one
    transfer and raises Diverged naming that step and the quantity, so a GPU never waits for Python in the
    steady state and a non-finite value never reaches a log row or a checkpoint. Its state is part of the
    training state, so a run resumed between two rows writes the same row as an uninterrupted one.

    On several processes each collects its own share's statistics; a row's sums are averaged over the
    processes (every process reports the same steps) and the first bad step is the earliest on any, so all
    raise Diverged together. The checkpointed sums are the averaged ones, which every process of a resumed run
    starts from, with any number of processes.

    Under fp16 a step also reports `amp/skipped_d` or `amp/skipped_g`: 1 when its loss scaler found
    overflowing gradients and skipped the update (as it does while it searches for its scale). Such a step's
    other statistics are left out of the means and of the divergence check; the flag's own mean is the
    fraction of updates skipped."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int | torch.Tensor] = {}
        # The steps that reported the same keys (the usual case) sum their values as one vector: a handful of
        # kernels a step, where a sum per statistic would launch one or two each (a tenth of a small step on a GPU).
        self.groups: dict[tuple[str, ...], list] = {}  # keys -> [their summed values, steps]
        self.first_bad: torch.Tensor | None = None

    def add(self, stats: dict[str, torch.Tensor], step: int) -> None:
        values = torch.stack([value.detach() for value in stats.values()]).double()  # stack promotes dtypes
        if self.first_bad is None:
            self.first_bad = torch.full((), NEVER, dtype=torch.float64, device=values.device)
        keys = tuple(stats)
        if not any(key.startswith("amp/skipped") for key in keys):
            self.first_bad = torch.where(torch.isfinite(values).all(), self.first_bad, self.first_bad.clamp(max=step))
            group = self.groups.get(keys)
            if group is None:
                self.groups[keys] = [values, 1]
            else:
                group[0].add_(values)
                group[1] += 1
            return
        # fp16: a step whose update the loss scaler skipped counts for its amp/skipped flag alone
        kept = next(value for key, value in zip(keys, values.unbind()) if key.startswith("amp/skipped")) == 0
        finite = torch.isfinite(values).all() | ~kept
        self.first_bad = torch.minimum(self.first_bad, torch.where(finite, NEVER, float(step)))
        for key, value in zip(stats, values.unbind()):
            count: int | torch.Tensor = 1
            if not key.startswith("amp/"):
                value, count = torch.where(kept, value, 0.0), kept.double()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + count

    def _fetch(self) -> tuple[dict[str, float], dict[str, float], float]:
        """Sums, counts and the first bad step, in one transfer from the device."""
        self._fold_groups()
        if not self.sums:
            return {}, {}, NEVER
        device = self.first_bad.device
        counts = [torch.as_tensor(c, dtype=torch.float64, device=device) for c in self.counts.values()]
        sums = distributed.mean_over_ranks(torch.stack(list(self.sums.values())))
        first_bad = distributed.min_over_ranks(self.first_bad)
        fetched = torch.cat([sums, torch.stack(counts), first_bad[None]]).cpu().tolist()
        n = len(self.sums)
        return dict(zip(self.sums, fetched[:n])), dict(zip(self.sums, fetched[n:2 * n])), fetched[-1]

    def _fold_groups(self) -> None:
        """The groups' sums into each statistic's own sum and count."""
        for keys, (total, steps) in self.groups.items():
            for key, value in zip(keys, total.unbind()):
                self.sums[key] = self.sums[key] + value if key in self.sums else value
                self.counts[key] = self.counts.get(key, 0) + steps
        self.groups = {}

    def _raise_if_bad(self, sums: dict[str, float], first_bad: float) -> None:
        if first_bad < NEVER:
            key = next((k for k, total in sums.items() if not torch.isfinite(torch.tensor(total))), next(iter(sums)))
            raise Diverged(key, sums[key], first_bad_step=int(first_bad))

    def check(self) -> None:
        """Raises Diverged if a statistic since the last row was a NaN or an infinity (a checkpoint asks)."""
        sums, _, first_bad = self._fetch()
        self._raise_if_bad(sums, first_bad)

    def means(self) -> dict[str, float]:
        """The means since the last call, which starts the next row afresh; Diverged if one went bad. A key
        with no kept step since the last row (every update skipped) is left out."""
        sums, counts, first_bad = self._fetch()
        self._raise_if_bad(sums, first_bad)
        means = {key: total / counts[key] for key, total in sums.items() if counts[key] > 0}
        self.sums, self.counts, self.first_bad = {}, {}, None
        return means

    def state_dict(self) -> dict[str, Any]:
        self._fold_groups()
        counts = {key: c.cpu() if isinstance(c, torch.Tensor) else c for key, c in self.counts.items()}
        sums = distributed.mean_over_ranks(torch.stack(list(self.sums.values()))).cpu() if self.sums else []
        return {"sums": dict(zip(self.sums, sums)), "counts": counts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums, self.counts, self.groups = dict(state["sums"]), dict(state["counts"]), {}
