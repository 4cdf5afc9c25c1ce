"""`gan-run`: the Hydra app. Composes conf/ (shipped as the package gan_runner.conf) and trains.

Exit statuses: 0 completed; 1 diverged (a sweep goes on with its next job), or under torchrun another process
lost; 2 bad input (one paragraph on stderr); 128 + the signal's number when a stop signal interrupted the run
(its checkpoint is written).

Under torchrun (`torchrun --nproc_per_node=N --no-python gan-run ...`) every process runs this app: process 0
in the run directory, the others in a temporary folder with their logging off, given process 0's run
directory once they have joined (gan_runner.engine.distributed).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan_runner.engine import distributed
from gan_runner.run_directory import load_for_resume
from gan_runner.errors import UserError
from gan_runner.study.placement import check_sweep_plugins, hand_over_to_submitit, place_job
from gan_runner.study.identity import (RunIdentity, chosen_direction, identify, job_dirname, objective_value,
                              record_sweep, settle_direction)

log = logging.getLogger("gan_runner")


def _run_dir(resume: str | None, default: str) -> str:
    return default if resume in (None, "auto") else str(resume)


def _output_subdir(resume: str | None) -> str:
    return ".hydra" if resume in (None, "auto") else f".hydra/resumed-{datetime.now():%Y-%m-%d_%H-%M-%S}"


def _job_dirname() -> str:
    hydra_cfg = HydraConfig.get()  # set when a job resolves its folder
    return job_dirname(hydra_cfg.job.num, hydra_cfg.sweep.dir, list(hydra_cfg.overrides.task))


# Used by conf/config.yaml's hydra.run.dir, so that resume=RUN_DIR runs in RUN_DIR, and by hydra.sweep.subdir.
OmegaConf.register_new_resolver("gan_run_dir", _run_dir, replace=True)
OmegaConf.register_new_resolver("gan_output_subdir", _output_subdir, replace=True)
OmegaConf.register_new_resolver("gan_job_dirname", _job_dirname, replace=True)


def run_identity(cfg: DictConfig, checkpoint: dict[str, Any] | None) -> RunIdentity:
    """The job's name, group and chosen options in its study; a resumed run keeps the ones it started with."""
    if checkpoint is not None and "identity" in checkpoint:
        saved = checkpoint["identity"]
        return RunIdentity(saved["run_name"], saved["name"], saved["group"], saved["varied"], saved["choices"])
    hydra_cfg = HydraConfig.get()
    sweep_dir = hydra_cfg.sweep.dir if hydra_cfg.mode == RunMode.MULTIRUN else None
    return identify(cfg, list(hydra_cfg.overrides.task), dict(hydra_cfg.runtime.choices), sweep_dir)


def with_sweeper_direction(cfg: DictConfig, sweeper: DictConfig) -> DictConfig:
    """An Optuna sweeper's direction as given by the user becomes study.direction (unless set), so that a run
    checks it against its metric (study.check_direction). The plugin's default was settled before the first trial
    (study.settle_direction) and is not the user's word."""
    direction = chosen_direction(sweeper.get("direction"))
    if direction is not None and cfg.get("study") is not None and cfg.study.get("direction") is None:
        cfg.study.direction = direction
    return cfg


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


# The run directory named on the command line (resume=DIR or hydra.run.dir=DIR) -> the nearest folder of its path
# that existed before Hydra made it: a run refused before its first step removes what was made for it, never more.
EXISTED_BEFORE: dict[Path, Path] = {}


def note_given_run_dir(argv: list[str]) -> None:
    for arg in argv:
        key, _, value = arg.partition("=")
        if (key == "resume" and value not in ("auto", "null")) or key.lstrip("+") == "hydra.run.dir":
            folder = Path(value).absolute()
            EXISTED_BEFORE[folder] = next(p for p in (folder, *folder.parents) if p.exists())


def remove_if_made_for_nothing(run_dir: Path) -> None:
    """A run refused before its first step leaves nothing behind: the directory Hydra made for it (holding only
    Hydra's .hydra/ and the log) and the folders made above it (for the default outputs/DATE/TIME: those within the
    working directory left empty)."""
    run_dir = run_dir.absolute()
    kept = EXISTED_BEFORE.get(run_dir, Path.cwd().absolute())
    if run_dir == kept or kept not in run_dir.parents or not run_dir.is_dir():
        return
    if {p.name for p in run_dir.iterdir()} - {".hydra", "gan-run.log"}:
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    for folder in run_dir.parents:
        if folder == kept:
            break
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break


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


def as_one_of_several_processes(argv: list[str]) -> list[str]:
    """Under torchrun: refuses a sweep (one torchrun runs one run) and returns the arguments this process
    adds, none for process 0; the others run in a temporary folder and log nothing (process 0 says it all)."""
    if not distributed.launched_by_torchrun():
        return []
    if any(arg in ("-m", "--multirun") for arg in argv):
        raise UserError("gan-run -m under torchrun: one torchrun trains one run on several processes, not a sweep. "
                        "Fix: start one torchrun per run (e.g. a SLURM job array), or sweep without torchrun.")
    if os.environ.get("RANK", "0") == "0":
        return []
    scratch = tempfile.mkdtemp(prefix=f"gan-run-rank{os.environ['RANK']}-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return [f"hydra.run.dir={scratch}", "hydra.output_subdir=null", "hydra.job_logging.root.level=CRITICAL"]


def main() -> None:
    # As `python -m` would: a user's own component (an objective, a dataset, ...) in a module of the folder
    # gan-run is started from is found by its YAML's _target_ (configs found with hydra.searchpath).
    sys.path.insert(0, os.getcwd())
    try:
        note_given_run_dir(sys.argv[1:])
        check_output_folders(sys.argv[1:])
        check_sweep_plugins(sys.argv[1:])
        sys.argv += as_one_of_several_processes(sys.argv[1:])
    except UserError as error:
        print(f"gan-run: error: {error}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


@hydra.main(version_base="1.3", config_path="pkg://gan_runner.conf", config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """Trains one run; returns its objective value for a sweeper (study.objective_value: None, a failed trial,
    when the run did not complete)."""
    from gan_runner.engine.loop import train  # imported here so that `gan-run --help` stays quick

    from gan_runner.engine.config import setting

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        distributed.join(str(cfg.train.device), setting(cfg, "train.collective_timeout_s"))  # under torchrun
        run_dir = Path(distributed.from_main(str(run_dir)))
        cfg, state = resumed(cfg, run_dir, list(HydraConfig.get().overrides.task))
        cfg = with_sweeper_direction(cfg, HydraConfig.get().sweeper)
        place_job(cfg.train.device)  # parallel sweeps: this job's GPU and share of the cores
        summary = train(cfg, run_dir, run_identity(cfg, state), resume=state)
    except UserError as error:
        print(f"gan-run: error: {error}", file=sys.stderr)
        if not sweeping:
            if distributed.is_main():
                remove_if_made_for_nothing(run_dir)
            sys.exit(2)
        write_error_summary(run_dir, str(error))
        return None
    except distributed.PeerLost as error:
        kept = run_dir / "checkpoints" / "last.pt"
        print(f"gan-run: error: {error} " + (f"The last checkpoint, {kept}, is kept: continue with the same "
              f"command and resume={run_dir}." if kept.is_file() else "No checkpoint had been written yet."),
              file=sys.stderr)
        sys.exit(1)
    distributed.leave()
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary["metrics"].items())
    log.info("%s at step %d in %.0f s; run directory %s%s", summary["status"], summary["step"],
             summary["wall_time_s"], run_dir, f"; {metrics}" if metrics else "")
    if summary["status"] == "interrupted":
        import signal

        hand_over_to_submitit(summary, cfg.resume)  # submitit's time-out signal: requeue (exits there)
        sys.exit(128 + signal.Signals[summary["signal"]].value)
    if summary["status"] == "diverged" and not sweeping:
        sys.exit(1)
    return objective_value(summary, (cfg.get("study") or {}).get("metric"))


class SweepSummary(Callback):
    """Before a -m sweep's jobs start, its command line and search space (study.yaml: what varies, which names
    runs and W&B groups); at its end, a line per job saying how it ended (also written to summary.txt)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Also settles an Optuna sweeper's direction before the sweeper is built from this config (Hydra builds it
        after this callback): a direction that contradicts the metric's sense is refused (every trial would be
        refused alike), none given becomes the metric's own sense."""
        from hydra.utils import get_class

        try:
            direction = settle_direction(config, get_class(config.metrics._target_))
        except UserError as error:
            print(f"gan-run: error: {error}", file=sys.stderr)
            sys.exit(2)
        if direction is not None:
            log.info("The study will %s what each run returns (%s).", direction,
                     (config.get("study") or {}).get("metric") or "its metric's best key")
        search_space = config.hydra.sweeper.get("params")
        record_sweep(config.hydra.sweep.dir, list(config.hydra.overrides.task),
                     OmegaConf.to_container(search_space) if search_space is not None else None)

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
