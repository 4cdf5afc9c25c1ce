"""Weights & Biases. The mode follows WANDB_MODE when it is set; otherwise online when credentials exist
(WANDB_API_KEY or a netrc entry), offline when not: never an interactive prompt. The run's files live in
the run directory (RUN_DIR/wandb/)."""

from __future__ import annotations

import logging
import netrc
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from gan_runner.loggers import Logger
from gan_runner.study.identity import RunIdentity

log = logging.getLogger(__name__)


def has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def server_reachable(timeout: float = 3.0) -> bool:
    """Whether W&B's server accepts a connection: seconds to find out, where wandb.init would wait 90."""
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def resolve_mode(mode: str | None) -> str:
    """The configured mode if any, else WANDB_MODE, else online with credentials and offline without."""
    return mode_and_reason(mode)[0]


def mode_and_reason(mode: str | None) -> tuple[str, str]:
    """The mode W&B runs in, and why (for the run's log)."""
    if mode:
        return mode, f"logger.mode={mode}"
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"], f"WANDB_MODE={os.environ['WANDB_MODE']}"
    if has_credentials():
        return "online", "W&B credentials found (WANDB_API_KEY or a netrc entry)"
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    return "offline", (f"no W&B credentials (WANDB_API_KEY is unset and ~/.netrc has no entry for {host}); "
                       "`wandb login` makes the next runs online")


class WandbLogger(Logger):
    def __init__(
        self,
        project: str = "gan-runner",
        entity: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        mode: str | None = None,
        log_checkpoints: bool = False,
    ) -> None:
        self.project, self.entity, self.name = project, entity, name
        self.tags = list(tags or [])
        self.mode = mode
        self.log_checkpoints = log_checkpoints
        self.run: Any = None

    def start(self, config: dict[str, Any], run_dir: Path, identity: RunIdentity, run_id: str | None = None) -> None:
        import wandb

        mode, reason = mode_and_reason(self.mode)
        settings = dict(
            project=self.project, entity=self.entity, name=self.name or identity.name, group=identity.group,
            job_type="train", tags=[*identity.tags, *self.tags], config={**config, **identity.config_keys()},
            dir=str(run_dir), reinit="finish_previous",
            # A resumed run continues its W&B run: same id; "allow" creates it if it never reached the server.
            id=run_id, resume="allow" if run_id else None,
        )
        fallback = ("logging offline instead; training goes on. Sync later with "
                    f"`wandb sync {run_dir}/wandb/offline-run-*`")
        if mode == "online" and not server_reachable():
            log.warning("W&B's server cannot be reached; %s.", fallback)
            mode = "offline"
        try:
            self.run = wandb.init(mode=mode, **settings)
        except Exception as error:  # an unreachable or failing server must never cost a run
            if mode != "online":
                raise
            log.warning("W&B could not start online (%s); %s.", error, fallback)
            self.run = wandb.init(mode="offline", **settings)
        self.run_id = self.run.id
        where = (f"; sync later with `wandb sync {run_dir}/wandb/offline-run-*`" if self.run.settings.mode == "offline"
                 else "")
        log.info("W&B: %s (%s), project %s, run %s%s", self.run.settings.mode, reason, self.project, self.run.id, where)
        # Every key is drawn against images seen as well as steps, so runs of different batch sizes and n_critic
        # line up on one axis.
        self.run.define_metric("images_seen")
        self.run.define_metric("*", step_metric="images_seen")

    def track_best(self, key: str, higher_is_better: bool) -> None:
        self.run.define_metric(key, step_metric="images_seen", summary="max" if higher_is_better else "min")

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def log_image(self, key: str, image: np.ndarray, step: int, images_seen: int) -> None:
        import wandb

        self.run.log({key: wandb.Image(image), "images_seen": images_seen}, step=step)

    def log_checkpoint(self, path: Path, name: str) -> None:
        if not self.log_checkpoints:
            return
        import wandb

        artifact = wandb.Artifact(f"{self.run.id}-{name}", type="model", metadata={"file": path.name})
        artifact.add_file(str(path))
        self.run.log_artifact(artifact, aliases=[name, "latest"])

    def summary(self, values: dict[str, Any]) -> None:
        self.run.summary.update(values)

    def finish(self) -> dict[str, Any]:
        info = {"id": self.run.id, "mode": self.run.settings.mode, "dir": str(Path(self.run.dir).parent)}
        try:
            self.run.finish()
        except Exception as error:  # e.g. its service process was killed with ours: the files are written
            log.warning("W&B did not finish cleanly (%s); the run's files are in %s.", error, info["dir"])
        return info
