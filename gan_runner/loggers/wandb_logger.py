"""Weights & Biases. The mode follows WANDB_MODE when it is set; otherwise online when credentials exist
(WANDB_API_KEY or a netrc entry), offline when not: never an interactive prompt. The run's files live in
the run directory (RUN_DIR/wandb/)."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from gan_runner.loggers import Logger

log = logging.getLogger(__name__)


def has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def resolve_mode(mode: str | None) -> str:
    """The configured mode if any, else WANDB_MODE, else online with credentials and offline without."""
    return mode or os.environ.get("WANDB_MODE") or ("online" if has_credentials() else "offline")


class WandbLogger(Logger):
    def __init__(
        self,
        project: str = "gan-runner",
        entity: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        mode: str | None = None,
    ) -> None:
        self.project, self.entity, self.name = project, entity, name
        self.tags = list(tags or [])
        self.mode = mode
        self.run: Any = None

    def start(self, config: dict[str, Any], run_dir: Path, name: str, group: str | None) -> None:
        import wandb

        mode = resolve_mode(self.mode)
        settings = dict(
            project=self.project, entity=self.entity, name=self.name or name, group=group, tags=self.tags,
            config=config, dir=str(run_dir), reinit="finish_previous",
        )
        try:
            self.run = wandb.init(mode=mode, **settings)
        except Exception as error:  # an unreachable server must never cost a run: fall back to offline
            if mode != "online":
                raise
            log.warning("W&B could not start online (%s); logging offline instead. Sync later with "
                        "`wandb sync %s/wandb/offline-run-*`.", error, run_dir)
            self.run = wandb.init(mode="offline", **settings)

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def log_image(self, key: str, image: np.ndarray, step: int) -> None:
        import wandb

        self.run.log({key: wandb.Image(image)}, step=step)

    def summary(self, values: dict[str, Any]) -> None:
        self.run.summary.update(values)

    def finish(self) -> dict[str, Any]:
        info = {"id": self.run.id, "mode": self.run.settings.mode, "dir": str(Path(self.run.dir).parent)}
        self.run.finish()
        return info
