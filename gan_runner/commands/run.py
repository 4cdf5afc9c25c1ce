"""`gan-run`: the Hydra app. Composes conf/ (shipped as the package gan_runner.conf) and trains.

Exit statuses: 0 completed (a -m sweep: every job completed or diverged); 1 diverged (a sweep goes on with its next
job), a -m sweep in which a job failed (its closing summary names each; with study.diverged_fails=true a diverged job
counts as failed), or under torchrun another process lost; 2 bad input (one paragraph on stderr), or the run directory
in use by another live run (RUN_DIR/.lock names it); 3 out of disk space (or quota) while the run wrote a file (one
paragraph; no half-written file left, the previous checkpoint intact, resume=RUN_DIR continues once there is room);
128 + the signal's number when a stop signal interrupted the run (its checkpoint is written).

A run holds its directory's lock (run_directory.hold) from before anything of ours is written there until its process
ends: taken here, before Hydra starts, when the command line names an existing directory (hydra.run.dir=, resume=),
else as the job starts (a sweep's job: its own folder); under torchrun by process 0 alone.

Under torchrun (`torchrun --nproc_per_node=N --no-python gan-run ...`) every process runs this app: process 0
in the run directory, the others in a temporary folder with their logging off, given process 0's run
directory once they have joined (gan_runner.distributed).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
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

from gan_runner.engine.resume import run_dir_of
from gan_runner.errors import UserError, did_you_mean
from gan_runner.run_directory import LOCK_FILE, NO_ROOM, DirectoryInUse, RunDirectory, flatten, hold, \
    holder_elsewhere, holds, natural_key, release, unwritable
from gan_runner.study.identity import chosen_direction, identify, job_dirname, objective_value, record_sweep, \
    settle_direction
from gan_runner.study.placement import check_sweep_plugins, hand_over_to_submitit, launched_by_torchrun, place_job

log = logging.getLogger("gan_runner")

OUT_OF_ROOM = 3  # the exit status of a run whose disk (or quota) filled while it wrote




def _output_subdir(resume: str | None) -> str:
    return ".hydra" if resume in (None, "auto") else f".hydra/resumed-{datetime.now():%Y-%m-%d_%H-%M-%S}"


def _job_dirname() -> str:
    hydra_cfg = HydraConfig.get()  # set when a job resolves its folder
    return job_dirname(hydra_cfg.job.num, hydra_cfg.sweep.dir, list(hydra_cfg.overrides.task))


# Used by conf/config.yaml's hydra.run.dir, so that resume=RUN_DIR (or a checkpoint of it) runs in RUN_DIR, and by
# hydra.sweep.subdir.
OmegaConf.register_new_resolver("gan_run_dir", run_dir_of, replace=True)
OmegaConf.register_new_resolver("gan_output_subdir", _output_subdir, replace=True)
OmegaConf.register_new_resolver("gan_job_dirname", _job_dirname, replace=True)


def with_sweeper_direction(cfg: DictConfig, sweeper: DictConfig) -> DictConfig:
    """An Optuna sweeper's direction as given by the user becomes study.direction (unless set), so that a run
    checks it against its metric (study.check_direction). The plugin's default was settled before the first trial
    (study.settle_direction) and is not the user's word."""
    direction = chosen_direction(sweeper.get("direction"))
    if direction is not None and cfg.get("study") is not None and cfg.study.get("direction") is None:
        cfg.study.direction = direction
    return cfg


# The run directory named on the command line (resume=DIR or hydra.run.dir=DIR) -> the nearest folder of its path
# that existed before Hydra made it: a run refused before its first step removes what was made for it, never more.
EXISTED_BEFORE: dict[Path, Path] = {}


def given_run_dir(argv: list[str]) -> Path | None:
    """The run directory a command line names (hydra.run.dir=DIR, else resume=DIR or a checkpoint of it)."""
    named = {}
    for arg in argv:
        key, _, value = arg.partition("=")
        if (key == "resume" and value not in ("auto", "null")) or key.lstrip("+") == "hydra.run.dir":
            named[key.lstrip("+")] = Path(run_dir_of(value, value) if key == "resume" else value).absolute()
    return named.get("hydra.run.dir", named.get("resume"))


def note_given_run_dir(argv: list[str]) -> None:
    folder = given_run_dir(argv)
    if folder is not None:
        EXISTED_BEFORE[folder] = next(p for p in (folder, *folder.parents) if p.exists())


def writes_run_directory() -> bool:
    """This process writes the run directory: the only one, or process 0 under torchrun."""
    return os.environ.get("RANK", "0") == "0"


def lock_given_run_dir(argv: list[str]) -> None:
    """Holds the lock of the existing run directory a lone run names before Hydra writes its .hydra/ and log there:
    a run refused because another one holds it touches nothing. (A directory not yet there has no other holder; a
    sweep's jobs and Hydra's query flags, --cfg, --help..., are left to the job.)"""
    folder = given_run_dir(argv)
    if folder is None or "${" in str(folder) or not folder.is_dir() or not writes_run_directory() \
            or any(arg.startswith("-") for arg in argv):
        return
    hold(folder)


def remove_if_made_for_nothing(run_dir: Path) -> None:
    """A run refused before its first step leaves nothing behind: the directory Hydra made for it (holding only
    Hydra's .hydra/, the log and the lock) and the folders made above it (for the default outputs/DATE/TIME: those
    within the working directory left empty). Only while this process holds the directory: never one another live
    run holds."""
    run_dir = run_dir.absolute()
    kept = EXISTED_BEFORE.get(run_dir, Path.cwd().absolute())
    if run_dir == kept or kept not in run_dir.parents or not run_dir.is_dir() or not holds(run_dir):
        return
    if {p.name for p in run_dir.iterdir()} - {".hydra", "gan-run.log", LOCK_FILE}:
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    for folder in run_dir.parents:
        if folder == kept:
            break
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break


def check_output_folders(argv: list[str]) -> None:
    """Hydra makes the run directory before any of our code runs, and fails there with a traceback; so
    the folders it will make are checked first (default: ./outputs)."""
    folders = {"hydra.run.dir": "outputs", "hydra.sweep.dir": "outputs"}
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+") in folders and "${" not in value:
            folders[key.lstrip("+")] = value
        elif key == "resume" and value != "auto":
            folders["resume"] = run_dir_of(value, value)
    for key, folder in folders.items():
        reason = unwritable(Path(folder))
        if reason:
            raise UserError(f"The run directory cannot be made in {folder}: {reason}. Fix: run gan-run from a "
                            "writable folder, or choose one with hydra.run.dir=PATH (hydra.sweep.dir=PATH for -m "
                            "sweeps).")


def as_one_of_several_processes(argv: list[str]) -> list[str]:
    """Under torchrun: refuses a sweep (one torchrun runs one run) and returns the arguments this process
    adds, none for process 0; the others run in a temporary folder and log nothing (process 0 says it all)."""
    if not launched_by_torchrun():
        return []
    if any(arg in ("-m", "--multirun") for arg in argv):
        raise UserError("gan-run -m under torchrun: one torchrun trains one run on several processes, not a sweep. "
                        "Fix: start one torchrun per run (e.g. a SLURM job array), or sweep without torchrun.")
    if os.environ.get("RANK", "0") == "0":
        return []
    scratch = tempfile.mkdtemp(prefix=f"gan-run-rank{os.environ['RANK']}-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return [f"hydra.run.dir={scratch}", "hydra.output_subdir=null", "hydra.job_logging.root.level=CRITICAL"]


def plain_overrides(argv: list[str]) -> list[str]:
    """The key=value overrides of a command line that compose one config (no flags, sweeps or Hydra's own)."""
    return [arg for arg in argv if "=" in arg and not arg.startswith(("-", "hydra", "+hydra", "~hydra"))
            and "," not in arg.partition("=")[2]]


def config_keys(argv: list[str]) -> list[str]:
    """Every dotted key of the config this command line composes without `argv`'s overrides that fail."""
    from hydra import compose, initialize_config_module

    try:
        with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
            cfg = compose(config_name="config", overrides=plain_overrides(argv))
    except Exception:  # noqa: BLE001 - suggestions are a courtesy; without them the paragraph still stands
        return []
    return [key for key in flatten(OmegaConf.to_container(cfg)) if "._" not in key]  # not _target_, _partial_


def added_key_error(key: str, cfg: DictConfig) -> str | None:
    """One paragraph when `+key=...` would add a key that nothing reads to `cfg` (the config composed without it),
    with the closest existing key; None when something reads it: a key `cfg` has (Hydra then says that + is for new
    keys), one below a plain value (Hydra refuses it), or an option of a component that declares free-form options
    (a **kwargs parameter: engine.build.takes_option)."""
    from gan_runner.engine.build import takes_option, unknown_option

    parts, node, depth = key.split("."), cfg, 0
    while depth < len(parts) and OmegaConf.is_dict(node) and parts[depth] in node.keys():
        if OmegaConf.is_missing(node, parts[depth]):
            return None
        node, depth = node[parts[depth]], depth + 1
    if depth == len(parts) or not OmegaConf.is_dict(node):
        return None
    parent, name = ".".join(parts[:depth]), parts[depth]
    if "_target_" in node:
        try:
            return None if takes_option(node._target_, name) else unknown_option(parent, node, name)
        except Exception:  # noqa: BLE001 - a _target_ that cannot be imported: building it says so, in one paragraph
            return None
    where, siblings = parent or "the config", [str(k) for k in node.keys() if not str(k).startswith("_")]
    closest = did_you_mean(key, [k for k in flatten(OmegaConf.to_container(cfg)) if "._" not in k])
    listing = "" if closest or len(siblings) > 20 else f"the keys of {where} are {', '.join(siblings)}. "
    return (f"{key} is not a key of {where}: {closest}{listing}Nothing would read it, so +{key}= is refused rather "
            "than ignored. Fix: the key's right name, without the + (gan-run --cfg job prints the whole config).")


def check_added_keys(argv: list[str]) -> None:
    """A key added with + (or ++) that nothing reads (`+foo=1`, `+train.stepz=3`, `+objective.foo=2`) is refused,
    before Hydra makes any folder, as a misspelt key is; `+group=option` (`+search=ring8_lr`) and Hydra's own
    `+hydra.*` pass. Costs a composition only when a + is given."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    added = {arg.lstrip("+").partition("=")[0] for arg in argv if arg.startswith("+") and "=" in arg}
    added = {key for key in added if key.split(".")[0] != "hydra" and "/" not in key and "@" not in key}
    if not added:
        return
    searchpath = [arg for arg in argv if arg.startswith("hydra.searchpath=")]  # a user's config folders
    try:
        with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            added = {key for key in added
                     if not loader.get_group_options(key, config_name="config", overrides=searchpath)}
            others = [arg for arg in plain_overrides(argv) if arg.lstrip("+").partition("=")[0] not in added]
            cfg = compose(config_name="config", overrides=searchpath + others) if added else None
    except Exception:  # noqa: BLE001 - Hydra composes the command line again and tells what fails, in one paragraph
        return
    for key in sorted(added):
        paragraph = added_key_error(key, cfg)
        if paragraph:
            raise UserError(paragraph)


def composition_error(error: Exception, argv: list[str]) -> str:
    """One paragraph for a command line that Hydra could not compose into a config: a misspelt key (with the
    closest existing one), a value of the wrong type (with what it must be), a misspelt option of a group."""
    from gan_runner.schema import meaning_of

    text, cause = str(error), error.__cause__
    unknown = re.match(r"Could not override '([^']+)'", text)
    if unknown:
        key = unknown.group(1)
        others = [arg for arg in argv if not arg.lstrip("+~").startswith(f"{key}=")]
        return (f"{key} is not a key of the config: {did_you_mean(key, config_keys(others))}Fix: the key's right "
                f"name (gan-run --cfg job prints the whole config; a component's options are its YAML file's keys).")
    wrong_type = re.match(r"Error merging override (([^=]+)=.*)", text)
    if wrong_type and cause is not None:
        override, key = wrong_type.group(1), wrong_type.group(2).lstrip("+")
        meaning = meaning_of(key)
        return (f"{override}: {str(cause).splitlines()[0]}."
                + (f" {key} must be {meaning}. Fix: gan-run {key}=<such a value>." if meaning else ""))
    missing = re.search(r"Could not find '([^']+)/([^']+)'.*Available options in '[^']+':\n((?:\t[^\n]*\n?)*)",
                        text, re.S)
    if missing:
        group, option = missing.group(1), missing.group(2)
        available = [line.strip() for line in missing.group(3).splitlines() if line.strip()]
        return (f"{group}={option} is not an option of the {group} group: {did_you_mean(option, available)}its "
                f"options are {', '.join(available)}. Fix: gan-run {group}=<one of them> (gan-run --help lists every "
                "group's options).")
    return " ".join(line.strip() for line in text.splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line)


def out_of_room(error: OSError, run_dir: Path) -> str:
    """One paragraph for a run whose disk (or quota) filled while it wrote `error.filename`: what is kept, and the
    command that continues it once there is room."""
    kept = RunDirectory(run_dir).checkpoint()
    state = (f"its last checkpoint, {kept}, is intact. Fix: free space on that disk, then continue with gan-run "
             f"resume={run_dir.absolute()}" if kept.is_file() else
             f"no checkpoint had been written yet, so {run_dir.absolute()} holds nothing to continue from. Fix: free "
             "space on that disk (or choose another with hydra.run.dir=PATH), then start the run again in a new run "
             "directory")
    return (f"The disk is full: writing {error.filename or 'a file of the run'} failed ({error.strerror}). The run "
            f"stopped without leaving a half-written file (the temporary one was removed); {state} (df -h "
            f"{run_dir.absolute()} shows the room left).")


def unreadable_yaml(error: Exception) -> str:
    """One paragraph for a config file (conf/, or a folder of the user's given with hydra.searchpath) that is not
    valid YAML: the file, the line and column (1-based, as editors count), and what the parser expected."""
    mark, opened = getattr(error, "problem_mark", None), getattr(error, "context_mark", None)
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else "a config file"
    context = getattr(error, "context", None)  # e.g. "while parsing a flow sequence", begun at context_mark
    if context and opened and mark and opened.line != mark.line:
        context += f" begun at line {opened.line + 1}, column {opened.column + 1}"
    problem = ": ".join(part for part in (context, getattr(error, "problem", None)) if part)
    return (f"{where}: not valid YAML ({problem or str(error).splitlines()[0]}). Fix: correct that line of the file "
            "(YAML: `key: value`, indented by spaces, lists closed as [a, b]); nothing was run.")


def main() -> None:
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    # As `python -m` would: a user's own component (an objective, a dataset, ...) in a module of the folder
    # gan-run is started from is found by its YAML's _target_ (configs found with hydra.searchpath).
    sys.path.insert(0, os.getcwd())
    # `experiment` is in the defaults list (null), so that experiment=NAME works; the older +experiment=NAME asks
    # Hydra to add a group that is there already, which it refuses: it means the same.
    sys.argv[1:] = [arg[1:] if arg.startswith("+experiment=") else arg for arg in sys.argv[1:]]
    if "--version" in sys.argv[1:]:  # Hydra's own --version would name Hydra's
        from gan_runner.commands.arguments import versions

        print(versions())
        sys.exit(0)
    try:
        note_given_run_dir(sys.argv[1:])
        check_output_folders(sys.argv[1:])
        lock_given_run_dir(sys.argv[1:])
        check_sweep_plugins(sys.argv[1:])
        check_added_keys(sys.argv[1:])
        sys.argv += as_one_of_several_processes(sys.argv[1:])
    except UserError as error:
        print(f"gan-run: error: {error}", file=sys.stderr)
        sys.exit(2)
    # Hydra prints a failed composition itself (several lines); with HYDRA_FULL_ERROR it raises it, here, to be told
    # in one paragraph. The job puts the user's own setting back (hydra_main).
    os.environ[USERS_FULL_ERROR] = os.environ.get("HYDRA_FULL_ERROR", "")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        hydra_main()
    except (HydraException, OmegaConfBaseException) as error:
        print(f"gan-run: error: {composition_error(error, sys.argv[1:])}", file=sys.stderr)
        sys.exit(2)
    except yaml.YAMLError as error:  # a config file Hydra loads while composing (before any folder is made)
        print(f"gan-run: error: {unreadable_yaml(error)}", file=sys.stderr)
        sys.exit(2)


USERS_FULL_ERROR = "GAN_RUN_USERS_HYDRA_FULL_ERROR"


def users_error_setting() -> None:
    """HYDRA_FULL_ERROR as the user had it, for whatever fails once a job runs (a traceback of ours is a bug)."""
    if USERS_FULL_ERROR in os.environ:
        os.environ["HYDRA_FULL_ERROR"] = os.environ[USERS_FULL_ERROR]
        if not os.environ["HYDRA_FULL_ERROR"]:
            del os.environ["HYDRA_FULL_ERROR"]


@hydra.main(version_base="1.3", config_path="pkg://gan_runner.conf", config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """Trains one run; returns its objective value for a sweeper (study.objective_value: None, a failed trial,
    when the run did not complete). A sweep's job lets go of its folder's lock when it ends, as its process may run
    the next job; a lone run holds it until its process ends."""
    try:
        return one_run(cfg)
    finally:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            release(Path(HydraConfig.get().runtime.output_dir))


def one_run(cfg: DictConfig) -> float | None:
    from gan_runner import distributed  # imported here, with torch, so that `gan-run --help` stays quick
    from gan_runner.engine.loop import train
    from gan_runner.engine.resume import Start

    users_error_setting()
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        if writes_run_directory():
            hold(run_dir)  # for the rest of the process's life (held already when main() could take it)
        if launched_by_torchrun():
            distributed.join(str(cfg.train.device), cfg.train.collective_timeout_s)
        run_dir = Path(distributed.from_main(str(run_dir)))
        start = Start.named(cfg.resume, run_dir)
        cfg = with_sweeper_direction(start.config(cfg, list(hydra_cfg.overrides.task)), hydra_cfg.sweeper)
        place_job(cfg.train.device)  # parallel sweeps: this job's GPU and share of the cores
        identity = start.identity(lambda: identify(cfg, list(hydra_cfg.overrides.task), dict(hydra_cfg.runtime.choices),
                                                   hydra_cfg.sweep.dir if sweeping else None))
        summary = train(cfg, run_dir, identity, resume=start.checkpoint)
    except UserError as error:
        print(f"gan-run: error: {error}", file=sys.stderr)
        if not sweeping:
            if distributed.is_main():
                remove_if_made_for_nothing(run_dir)
            sys.exit(2)
        if not isinstance(error, DirectoryInUse):  # the other run's summary is its own
            RunDirectory(run_dir).write_error(str(error))
        return None
    except OSError as error:
        if error.errno not in NO_ROOM:
            raise
        paragraph = out_of_room(error, run_dir)
        print(f"gan-run: error: {paragraph}", file=sys.stderr)
        RunDirectory(run_dir).write_error(paragraph)  # if there is room for it now: a sweep's summary says why
        if not sweeping:
            sys.exit(OUT_OF_ROOM)
        return None
    except distributed.PeerLost as error:
        kept = RunDirectory(run_dir).checkpoint()
        paragraph = f"{error} " + (f"The last checkpoint, {kept}, is kept: continue with the same command and "
                                   f"resume={run_dir}." if kept.is_file() else "No checkpoint had been written yet.")
        print(f"gan-run: error: {paragraph}", file=sys.stderr)
        log.error("%s", paragraph) if distributed.is_main() else None  # the run's log tells its end too
        sys.exit(1)
    except Exception as error:
        if not sweeping:
            raise  # a bug of ours: its traceback, as Hydra shows it
        # A sweep's other jobs still run (Hydra's sweeper would stop the sweep at the end of the batch and never
        # write its summary): the traceback goes to the job's log, the reason to its summary.json.
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        log.error("The job crashed: %s (the traceback is in %s)", reason, run_dir / "gan-run.log")
        traceback_to_log_file()
        RunDirectory(run_dir).write_error(f"crashed: {reason} (the traceback is in {run_dir / 'gan-run.log'})")
        return None
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


def traceback_to_log_file() -> None:
    """The exception being handled, with its traceback, into the job's log file (Hydra's file handler) alone: the
    console keeps one line a job."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "The job's traceback:", (), sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


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
        """Exits 1 when a job failed (was refused, crashed, or was interrupted; a diverged one only with
        study.diverged_fails=true): the other jobs have run, and the summary names each failed one."""
        sweep_dir = Path(config.hydra.sweep.dir)
        diverged_fails = bool((config.get("study") or {}).get("diverged_fails"))
        lines, failed = [], []
        for job_dir in sorted((p.parent for p in sweep_dir.glob("*/.hydra")), key=natural_key):
            job = RunDirectory(job_dir)
            lines.append(f"{job_dir.name}: {job.describe()}")
            if job.outcome not in ("completed", "diverged") or (job.outcome == "diverged" and diverged_fails) \
                    or holder_elsewhere(job_dir):  # refused: what the folder holds is the other run's
                failed.append(lines[-1])
        if lines:
            text = "\n".join(lines)
            (sweep_dir / "summary.txt").write_text(text + "\n")
            log.info("Sweep %s:\n%s", sweep_dir, text)
        if failed:
            log.error("%d of %d jobs failed%s:\n%s", len(failed), len(lines),
                      " (study.diverged_fails=true counts a diverged job as failed)" if diverged_fails else "",
                      "\n".join(failed))
            print(f"gan-run: error: {len(failed)} of {len(lines)} jobs of the sweep failed (the others ran); each is "
                  f"named with its reason above and in {sweep_dir / 'summary.txt'}.", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
