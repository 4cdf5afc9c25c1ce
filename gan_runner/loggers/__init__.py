"""Loggers: where a run's numbers and pictures go besides its run directory. Only the loop talks to
them. `none` logs nowhere; `wandb` to Weights & Biases (imported only when chosen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class Logger:
    """Does nothing: the run directory (metrics.jsonl, samples/, summary.json) is always written."""

    def start(self, config: dict[str, Any], run_dir: Path, name: str, group: str | None) -> None:
        pass

    def log(self, values: dict[str, float], step: int) -> None:
        pass

    def log_image(self, key: str, image: np.ndarray, step: int) -> None:
        """`image` is uint8, H x W x C."""

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def finish(self) -> dict[str, Any]:
        """Closes the logger; returns what summary.json should record about it."""
        return {}
