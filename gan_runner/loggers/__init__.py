"""Loggers: where a run's numbers and pictures go besides its run directory. Only the loop talks to
them. `none` logs nowhere; `wandb` to Weights & Biases (imported only when chosen)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gan_runner.study.identity import RunIdentity

log = logging.getLogger(__name__)


class Logger:
    """Does nothing: the run directory (metrics.jsonl, samples/, summary.json) is always written."""

    run_id: str | None = None  # kept in checkpoints, so that a resumed run continues the same logger run

    def start(self, config: dict[str, Any], run_dir: Path, identity: RunIdentity, run_id: str | None = None) -> None:
        """`identity`: the run's name, group and chosen options; `run_id`: the id of the run to continue (a
        resumed run), else None."""
        log.info("W&B: off (logger=none); everything is in the run directory")

    def log(self, values: dict[str, float], step: int) -> None:
        """`values` include `images_seen`, every row's second step axis."""

    def track_best(self, key: str, higher_is_better: bool) -> None:
        """The run's summary keeps the best value of `key` rather than its last."""

    def log_image(self, key: str, image: np.ndarray, step: int, images_seen: int) -> None:
        """`image` is uint8, H x W x C."""

    def log_checkpoint(self, path: Path, name: str) -> None:
        """Keeps a copy of a checkpoint with the logger, if it is configured to (W&B: log_checkpoints)."""

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def finish(self) -> dict[str, Any]:
        """Closes the logger; returns what summary.json should record about it."""
        return {}
