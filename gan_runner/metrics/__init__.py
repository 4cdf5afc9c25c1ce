"""Metrics: objects called with a sampler and the dataset, returning a flat dict of floats, e.g.
{"toy/modes": 8.0}. `every` is the evaluation cadence in steps during training (0: only at the end).

A sampler is a function n -> an iterator over n samples of the EMA generator, in batches (on the generator's device):
gan_runner.commands.sample.draw_batches with a fixed seed, so every call yields the same n samples in the same order.
`sample(n, rows=(start, stop))` yields only those rows of the n: on several processes (torchrun) a metric
may have each generate its share (the FID does; the cheap metrics compute everything on every process).
Batches let a metric over many images (FID's 50,000 at 128 x 128 are 10 GB as float32) hold one batch at a
time; a metric of a few samples may concatenate them."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

Sampler = Callable[..., Iterator[torch.Tensor]]  # (n, rows=None)


def kl_to_uniform(counts: np.ndarray | torch.Tensor) -> float:
    """KL(q || uniform) in nats, q = counts / counts.sum() over the len(counts) bins (modes, classes): 0 when every
    bin is equally full, log(len(counts)) when one bin holds everything, inf when every bin is empty (then q is
    undefined). The reverse KL of VEEGAN and PacGAN, whose uniform is the true mixture's weights."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return float("inf")
    q = counts[counts > 0] / counts.sum()
    return float((q * np.log(q * len(counts))).sum())


class Metric:
    """`best_key` names the value that decides checkpoints/best.pt (None: no best.pt), and
    `higher_is_better` which way it improves."""

    best_key: str | None = None
    higher_is_better: bool = False

    def __init__(self, every: int = 0) -> None:
        self.every = every

    def better(self, value: float, than: float) -> bool:
        return value > than if self.higher_is_better else value < than

    def protocol(self) -> dict[str, str]:
        """How the numbers were measured (weights file and hash, sample counts, ...), for summary.json."""
        return {}

    def check(self, dataset: object) -> None:
        """Raises UserError, before any training, when this metric cannot judge `dataset`."""

    def __call__(self, sample: Sampler, dataset: object) -> dict[str, float]:
        raise NotImplementedError


class NoMetric(Metric):
    def __call__(self, sample: Sampler, dataset: object) -> dict[str, float]:
        return {}
