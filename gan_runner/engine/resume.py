"""Resume, in one place: which checkpoint `resume=` names, the config a resumed run trains with, and what a run that
starts from a checkpoint restores, where a fresh one starts from nothing (`Start`).

    resume=RUN_DIR        that run's checkpoints/last.pt; the run continues in RUN_DIR
    resume=FILE.pt        that checkpoint (checkpoints/best.pt, step_NNNNNN.pt, ...); the run continues in the run
                          directory that holds it (FILE's folder's parent)
    resume=auto           this run's own checkpoints/last.pt when there is one, else a fresh start (requeued jobs)

A resumed run trains with its saved config plus this command's overrides (typically train.steps), keeps its
identity in its study and its logger's run, drops the rows it had logged after the checkpoint, continues the
data order at the checkpoint's D step and restores every RNG last, after everything that draws while being built:
on the CPU it logs exactly what the uninterrupted run logs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from gan_runner.errors import UserError
from gan_runner.run_directory import Checkpoint
from gan_runner.study.identity import RunIdentity

log = logging.getLogger("gan_runner")


def is_checkpoint_file(resume: str) -> bool:
    return resume.endswith(".pt")


def run_dir_of(resume: str | None, default: str) -> str:
    """The directory a run writes in: the default for a fresh run (and resume=auto), the run directory named, or the
    one holding the checkpoint file named."""
    if resume in (None, "auto"):
        return default
    return str(Path(resume).parent.parent) if is_checkpoint_file(str(resume)) else str(resume)


def checkpoint_named(resume: str | None, run_dir: Path) -> Path | None:
    """The checkpoint `resume=` names (None: a fresh start), or one paragraph saying why there is none."""
    if resume is None:
        return None
    if resume == "auto":
        path = run_dir / "checkpoints" / "last.pt"
        return path if path.is_file() else None  # a first launch: nothing to pick up yet
    path = Path(resume) if is_checkpoint_file(resume) else Path(resume) / "checkpoints" / "last.pt"
    if not path.is_file():
        raise UserError(f"resume={resume}: there is no checkpoint at {path}. Fix: give the run directory of a gan-run "
                        "job (the folder holding checkpoints/last.pt), one of its checkpoint files "
                        "(RUN_DIR/checkpoints/best.pt, step_*.pt), or resume=auto to continue a run only when its "
                        "directory holds a checkpoint.")
    return path


def resumed_config(cfg: DictConfig, checkpoint: Checkpoint, overrides: list[str]) -> DictConfig:
    """The run's saved config with this command's overrides on top (resume itself kept as given)."""
    saved = OmegaConf.create(checkpoint.config)
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+")
        if key != "resume" and not key.startswith("~"):
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key), merge=False, force_add=True)
    saved.resume = cfg.resume
    return saved


class Start:
    """Where a run starts: afresh (`checkpoint` None: every method does nothing), or from a checkpoint."""

    def __init__(self, checkpoint: Checkpoint | None = None, path: Path | None = None) -> None:
        self.checkpoint, self.path = checkpoint, path

    @classmethod
    def named(cls, resume: str | None, run_dir: Path) -> Start:
        path = checkpoint_named(resume, run_dir)
        return cls(Checkpoint.load(path), path) if path is not None else cls()

    def config(self, cfg: DictConfig, overrides: list[str]) -> DictConfig:
        if self.checkpoint is None:
            return cfg
        log.info("Resuming %s from step %d", self.path, self.checkpoint.step)
        return resumed_config(cfg, self.checkpoint, overrides)

    def identity(self, fresh: Callable[[], RunIdentity]) -> RunIdentity:
        """The run's name, group and choices in its study: a resumed run keeps the ones it started with."""
        saved = self.checkpoint.identity if self.checkpoint is not None else None
        if saved is None:
            return fresh()
        return RunIdentity(saved["run_name"], saved["name"], saved["group"], saved["varied"], saved["choices"])

    @property
    def logger_run_id(self) -> str | None:
        return self.checkpoint.logger_run_id if self.checkpoint is not None else None

    @property
    def step(self) -> int:
        return self.checkpoint.step if self.checkpoint is not None else 0

    def restore(self, state: Any, steps: int, record: Any) -> None:
        """The checkpoint's state into freshly built parts (refused when it has nothing left to do), and the rows
        the run logged after the checkpoint dropped from its record: it logs them again."""
        if self.checkpoint is None:
            return
        state.load_state_dict(self.checkpoint.state)
        if state.step >= steps:
            raise UserError(f"The run in {record.directory.path} is already at step {state.step} and train.steps is "
                            f"{steps}: nothing to do. Fix: resume with a larger train.steps, e.g. "
                            f"train.steps={2 * state.step}.")
        record.truncate_after(state.step)

    def restore_rng(self) -> None:
        """Every RNG as the checkpoint left it: last, after everything that draws random numbers while built."""
        if self.checkpoint is not None:
            from gan_runner.engine.state import restore_rng

            restore_rng(self.checkpoint.state["rng"])

    def summary(self) -> dict[str, Any]:
        return {"resumed_from_step": self.step} if self.checkpoint is not None else {}
