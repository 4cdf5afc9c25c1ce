"""`gan-run`: the Hydra app. Composes conf/ (shipped as the package gan_runner.conf) and trains.

Exit statuses: 0 completed; 1 diverged (a sweep goes on with its next job); 2 bad input (one paragraph
on stderr); 128 + the signal's number when a stop signal interrupted the run (its checkpoint is written).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan_runner.checkpoint import load_for_resume
from gan_runner.errors import UserError
from gan_runner.launch import check_sweep_plugins, hand_over_to_submitit, place_job

log = logging.getLogger("gan_runner")


def _run_dir(resume: str | None, default: str) -> str:
    return default if resume in (None, "auto") else str(resume)


def _output_subdir(resume: str | None) -> str:
    return ".hydra" if resume in (None, "auto") else f".hydra/resumed-{datetime.now():%Y-%m-%d_%H-%M-%S}"


# Used by conf/config.yaml's hydra.run.dir, so that resume=RUN_DIR runs in RUN_DIR.
OmegaConf.register_new_resolver("gan_run_dir", _run_dir, replace=True)
OmegaConf.register_new_resolver("gan_output_subdir", _output_subdir, replace=True)


def run_identity() -> tuple[Path, str, str | None]:
    """The job's output directory, its name (its command-line overrides) and, in a sweep, its group."""
    hydra_cfg = HydraConfig.get()
    name = hydra_cfg.job.override_dirname or "defaults"
    group = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        group = "sweep-" + Path(hydra_cfg.sweep.dir).as_posix().replace("/", "_").lstrip("_.")
    return Path(hydra_cfg.runtime.output_dir), name, group


def resumed(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> tuple[DictConfig, dict[str, Any] | None]:
    """With resume=RUN_DIR (or auto and a checkpoint in this run's directory): the checkpoint and the run's
    saved config with this command's overrides on top. Otherwise (cfg, None)."""
    if cfg.resume is None:
        return cfg, None
    path = run_dir / "checkpoints" / "last.pt"
    if not path.is_file():
        if cfg.resume == "auto":
            return cfg, None  # a first launch: nothing to pick up yet
        raise UserError(f"resume={cfg.resume}: there is no checkpoint at {path}. Fix: give the run directory "
                        "of a gan-run job (the folder holding checkpoints/last.pt), or resume=auto to continue "
                        "a run only when its directory holds a checkpoint.")
    state = load_for_resume(path)
    saved = OmegaConf.create(state["config"])
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+")
        if key != "resume" and not key.startswith("~"):
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key), merge=False, force_add=True)
    saved.resume = cfg.resume
    log.info("Resuming %s from step %d (%s)", run_dir, state["step"], path)
    return saved, state


def write_error_summary(run_dir: Path, message: str) -> None:
    """So that a sweep's summary can say why a job never trained."""
    try:
        (run_dir / "summary.json").write_text(json.dumps({"status": "error", "error": message}, indent=2) + "\n")
    except OSError:
        pass


def unwritable(folder: Path) -> str | None:
    """Why `folder` could not be created and written to, or None when it could."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def check_output_folders(argv: list[str]) -> None:
    """Hydra makes the run directory before any of our code runs, and fails there with a traceback; so
    the folders it will make are checked first (default: ./outputs)."""
    folders = {"hydra.run.dir": "outputs", "hydra.sweep.dir": "outputs"}
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+") in folders and "${" not in value:
            folders[key.lstrip("+")] = value
        elif key == "resume" and value != "auto":
            folders["resume"] = value
    for key, folder in folders.items():
        reason = unwritable(Path(folder))
        if reason:
            raise UserError(f"The run directory cannot be made in {folder}: {reason}. Fix: run gan-run from a "
                            "writable folder, or choose one with hydra.run.dir=PATH (hydra.sweep.dir=PATH for -m "
                            "sweeps).")


def main() -> None:
    # As `python -m` would: a user's own component (an objective, a dataset, ...) in a module of the folder
    # gan-run is started from is found by its YAML's _target_ (configs found with hydra.searchpath).
    sys.path.insert(0, os.getcwd())
    try:
        check_output_folders(sys.argv[1:])
        check_sweep_plugins(sys.argv[1:])
    except UserError as error:
        print(f"gan-run: error: {error}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


@hydra.main(version_base="1.3", config_path="pkg://gan_runner.conf", config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    from gan_runner.train import train  # imported here so that `gan-run --help` stays quick

    run_dir, name, group = run_identity()
    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        cfg, state = resumed(cfg, run_dir, list(HydraConfig.get().overrides.task))
        place_job(cfg.train.device)  # parallel sweeps: this job's GPU and share of the cores
        summary = train(cfg, run_dir, name, group, resume=state)
    except UserError as error:
        print(f"gan-run: error: {error}", file=sys.stderr)
        if not sweeping:
            sys.exit(2)
        write_error_summary(run_dir, str(error))
        return
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary["metrics"].items())
    log.info("%s at step %d in %.0f s; run directory %s%s", summary["status"], summary["step"],
             summary["wall_time_s"], run_dir, f"; {metrics}" if metrics else "")
    if summary["status"] == "interrupted":
        import signal

        hand_over_to_submitit(summary, cfg.resume)  # submitit's time-out signal: requeue (exits there)
        sys.exit(128 + signal.Signals[summary["signal"]].value)
    if summary["status"] == "diverged" and not sweeping:
        sys.exit(1)


class SweepSummary(Callback):
    """At the end of a -m sweep, a line per job saying how it ended (also written to summary.txt)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        lines = []
        for job_dir in sorted((p.parent for p in sweep_dir.glob("*/.hydra")), key=lambda p: p.name):
            lines.append(f"{job_dir.name}: {describe(job_dir / 'summary.json')}")
        if lines:
            text = "\n".join(lines)
            (sweep_dir / "summary.txt").write_text(text + "\n")
            log.info("Sweep %s:\n%s", sweep_dir, text)


def describe(summary_file: Path) -> str:
    if not summary_file.is_file():
        return "no summary.json (the job crashed; see its gan-run.log)"
    summary = json.loads(summary_file.read_text())
    status = summary["status"]
    if status == "error":
        return f"error: {summary['error']}"
    text = f"{status} at step {summary['step']}"
    if status == "diverged":
        text += f" ({summary['diverged']['quantity']} became {summary['diverged']['value']})"
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary.get("metrics", {}).items())
    return text + (f"; {metrics}" if metrics else "")


if __name__ == "__main__":
    main()
