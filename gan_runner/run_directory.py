"""The run directory: the one module that knows its format. The loop writes through it (engine/record.py); every
reader goes through it: gan-report, gan-dashboard, a sweep's summary, gan-sample, gan-eval and resume.

    RUN_DIR/
      .hydra/            config.yaml (the composed config), overrides.yaml, hydra.yaml; a resumed run adds
                         .hydra/resumed-DATE_TIME/
      gan-run.log        the run's log
      metrics.jsonl      a JSON object a row: {"step", "images_seen", statistics (STATISTICS) and metrics}
      summary.json       how the run ended (status, step, metrics, best, health, study, ...) and its format_version
      samples/           step_NNNNNN.png, training.gif; final_samples.png and loss_curves.png beside
      checkpoints/       last.pt, best.pt, step_NNNNNN.pt: `Checkpoint`s
      wandb/             the W&B run's files
      .lock              held (flock) by the live run that writes here; says its process, host and start (`hold`)

Every summary and checkpoint says its `format_version`; files of earlier versions are read through `upgrade`, which
holds every compatibility shim, so nothing else in the package knows that older files exist.
"""

from __future__ import annotations

import errno
import importlib.resources
import json
import logging
import os
import pickle
import re
import shutil
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import numpy as np
import yaml

from gan_runner.errors import UserError

FORMAT_VERSION = 2  # 1: every file written before versions were recorded (up to 2026-12-04)

# The prefixes of the statistics a log row carries, and the section they belong to: "losses" (the losses, the
# penalties and D's outputs, drawn by loss_curves.png and kept as summary.json's final_losses) or "training" (how the
# optimisation runs). Every other key of a row is a metric.
STATISTICS = {
    "loss": "losses",       # loss/d, loss/g
    "reg": "losses",        # D's penalties, before their weight
    "reg_g": "losses",      # G's penalties
    "d": "losses",          # D's mean scores, accuracies and margin
    "lr": "training",       # each optimiser's learning rate
    "grad_norm": "training",
    "sigma": "training",    # largest singular values
    "speed": "training",
    "memory": "training",
    "amp": "training",      # fp16 updates skipped
    "health": "training",   # sample diversity, detectors that fired
}
ROW_BOOKKEEPING = ("step", "images_seen")  # row keys that are axes, not values


def statistic_section(key: str) -> str | None:
    """"losses" or "training" for a statistic of the training steps, None for a metric."""
    return STATISTICS.get(key.split("/", 1)[0])


# The root keys of a config that say where and how a run is executed or recorded, not what is trained: runs that
# differ only there (and in train.* keys whose schema says so) are seeds of one configuration.
NOT_THE_EXPERIMENT = ("seed", "resume", "hydra", "logger", "study")


def part_of_the_experiment(key: str) -> bool:
    from gan_runner.schema import affects_result

    return key.split(".")[0] not in NOT_THE_EXPERIMENT and affects_result(key)


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """Dotted keys to JSON-encoded leaves; lists and empty mappings are leaves."""
    if isinstance(tree, dict) and tree:
        return {k: v for name, child in tree.items() for k, v in flatten(child, f"{prefix}{name}.").items()}
    return {prefix.rstrip("."): json.dumps(tree, sort_keys=True)}


def experiment(config: dict[str, Any]) -> dict[str, str]:
    """A config without the seed and without what does not change the experiment: equal for the seeds of one
    configuration (gan-report's groups; W&B's groups come from the same keys of what a sweep varies)."""
    return {key: value for key, value in flatten(config).items() if part_of_the_experiment(key)}


# ------------------------------------------------------------------------------------------------ writing files

# A write that failed for want of room: the disk is full, or the user's quota is.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def no_room(error: BaseException | None) -> OSError | None:
    """The OSError "no space left on device" (or "disk quota exceeded") that `error` is or was raised while handling:
    torch.save reports a failed write as a RuntimeError of its zip writer, raised while handling the OSError."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in NO_ROOM:
            return error
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def replacing(path: Path, temporary: Path | None = None) -> Iterator[BinaryIO]:
    """A handle on a temporary file beside `path` (`temporary`; default .NAME.tmp) that replaces `path` when the block
    ends: flushed to disk, then renamed over it, so that a reader sees the old file or the new one, never part of one.
    On any error the temporary file is removed, so that a full disk is not kept full by half a file, and `path` is
    left as it was; a failure for want of room is raised as an OSError (ENOSPC or EDQUOT) naming `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary or path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        full = no_room(error)
        if full is not None and full is not error:
            raise OSError(full.errno, full.strerror, str(path)) from None
        if full is not None:
            error.filename = str(path)
        raise


# ------------------------------------------------------------------------------------------------- checkpoints

@dataclass
class Checkpoint:
    """Everything a run needs to continue exactly, or to sample: the training state (engine.state.TrainingState's
    state_dict: networks, optimisers, regularisers, statistics, counters, RNG states), the config it ran with, the
    shape of its data and its class count, its identity in its study and its logger's run id. Written flat, as a
    dict of tensors and plain containers, so that it loads with weights_only=True."""

    state: dict[str, Any]
    config: dict[str, Any]
    data_shape: list[int]
    num_classes: int | None = None
    identity: dict[str, Any] | None = None
    logger_run_id: str | None = None
    format_version: int = FORMAT_VERSION
    source_shape: list[int] | None = None  # a paired game's sources (its G is built for them); None otherwise

    EXTRAS = ("config", "data_shape", "num_classes", "identity", "logger_run_id", "format_version", "source_shape")

    @property
    def step(self) -> int:
        return int(self.state["step"])

    def save(self, path: Path) -> None:
        """Writes atomically (`replacing`): a run killed mid-write, or one whose disk fills, keeps the previous
        checkpoint intact and no temporary file."""
        import torch

        contents = {**self.state, **{key: getattr(self, key) for key in self.EXTRAS}}
        with replacing(path) as handle:
            torch.save(contents, handle)

    @classmethod
    def load(cls, path: Path, map_location: Any = "cpu") -> Checkpoint:
        """The checkpoint at `path`, upgraded to this version's format, or one paragraph (UserError) saying why it
        cannot be: missing, unsafe (it would run code when opened), unreadable, or not gan-run's. Only read."""
        if not path.is_file():
            raise UserError(f"There is no checkpoint at {path}. Fix: give a gan-run run directory (the folder holding "
                            "checkpoints/last.pt) or a checkpoint file of one (checkpoints/best.pt, step_*.pt).")
        try:
            raw = read_safely(path, map_location)
        except UnsafeCheckpoint as error:
            raise UserError(refusal(path, error)) from None
        except Exception as error:  # truncated, not a torch file, unreadable
            raise UserError(f"Cannot use {path}: the file cannot be read ({type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else 'no detail'}). It was left untouched. "
                            "Fix: use another checkpoint of the run (checkpoints/step_*.pt when "
                            "train.keep_checkpoints > 1, or best.pt), or start the run afresh.") from None
        missing = [key for key in REQUIRED if not isinstance(raw, dict) or key not in raw]
        if missing:
            raise UserError(f"Cannot use {path}: it lacks {', '.join(missing)}, so it was not written by gan-run's "
                            "training loop. It was left untouched. Fix: give a checkpoint of a gan-run run.")
        raw = upgrade("checkpoint", raw)
        return cls({key: value for key, value in raw.items() if key not in cls.EXTRAS},
                   **{key: raw[key] for key in cls.EXTRAS})


# What every checkpoint of every version holds; the rest is filled in by `upgrade`.
REQUIRED = ("step", "d_steps", "config", "data_shape", "G", "D", "G_ema", "opt_g", "opt_d", "regularisers", "rng")

# Checkpoints of earlier versions kept NumPy's RNG state as an array: allowed, as data (NumPy's own array
# reconstruction, no arbitrary callable). Everything else a checkpoint holds is tensors and plain containers.
NUMPY_ARRAYS = [getattr(np, "_core", None) and np._core.multiarray._reconstruct or np.core.multiarray._reconstruct,
                np.ndarray, np.dtype, type(np.dtype(np.uint32))]


class UnsafeCheckpoint(Exception):
    """The file asks to run code (or build objects) when opened: it is not opened."""


def read_safely(path: Path, map_location: Any = "cpu") -> Any:
    """A file opened with weights_only=True: tensors and plain containers only, so a file someone shares cannot run
    code when it is opened. One that tries is refused with UnsafeCheckpoint."""
    import torch

    try:
        with torch.serialization.safe_globals(NUMPY_ARRAYS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        allowed = {f"{g.__module__}.{g.__qualname__}" for g in NUMPY_ARRAYS}
        unsafe = [name for name in torch.serialization.get_unsafe_globals_in_checkpoint(path) if name not in allowed]
        raise UnsafeCheckpoint(", ".join(unsafe) or "objects it cannot name") from None


def refusal(path: Path, error: UnsafeCheckpoint) -> str:
    """The paragraph that explains a refused checkpoint."""
    return (f"Refused to open {path}: it holds pickled Python objects beyond tensors and plain containers "
            f"({error}), whose unpickling could run arbitrary code when opened, so it was not opened. gan-runner's own "
            "checkpoints hold none. Fix: use a checkpoint written by gan-run; if you made this file yourself and "
            "trust it, load it with torch.load(weights_only=False) and save its tensors again.")


def keep_copy(path: Path, copy: Path) -> None:
    """`copy` becomes the same checkpoint as `path`: a hard link where the filesystem has them (no extra space, no
    extra write), else a copy; atomic either way."""
    temporary = copy.with_name(f".{copy.name}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(path, temporary)
    except OSError:
        with replacing(copy) as handle, open(path, "rb") as source:
            shutil.copyfileobj(source, handle)
        return
    os.replace(temporary, copy)


# ------------------------------------------------------------------------------------------------ the lock

LOCK_FILE = ".lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not protected from sharing a directory
    fcntl = None

# The run directories this process holds (resolved path -> the open lock file): held until the process ends.
_HELD: dict[Path, int] = {}


class DirectoryInUse(UserError):
    """Another live process holds the run directory's lock."""


def hold(run_dir: Path) -> None:
    """This process's lock on `run_dir`, for the rest of its life: an flock on RUN_DIR/.lock, which the operating
    system releases when the process ends however it ends (kill -9 included), so a stale lock never blocks a resume.
    The file says who holds it (process, host, start), for the paragraph that refuses a second run. The file is never
    removed: a lock file deleted and made anew would let two runs each lock their own. DirectoryInUse (nothing
    written) when another process holds it; nothing when this one does already."""
    key = run_dir.resolve()
    if key in _HELD or fcntl is None:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 4096, 0).decode(errors="replace")
        os.close(descriptor)
        raise DirectoryInUse(in_use(run_dir, holder)) from None
    except OSError as error:  # a file system without locks (e.g. Lustre mounted without -o flock): run unprotected
        os.close(descriptor)
        logging.getLogger("gan_runner").warning(
            "%s cannot be locked (%s): nothing stops a second run from writing there at the same time.", run_dir,
            error.strerror or error)
        return
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now().isoformat(" ", "seconds")}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, (json.dumps(holder) + "\n").encode(), 0)
    _HELD[key] = descriptor


def release(run_dir: Path) -> None:
    """Lets go of `run_dir`'s lock before the process ends (a sweep's job done, in a process that runs the next)."""
    descriptor = _HELD.pop(run_dir.resolve(), None)
    if descriptor is not None:
        os.close(descriptor)


def holds(run_dir: Path) -> bool:
    """Whether this process holds `run_dir`'s lock."""
    return run_dir.resolve() in _HELD


def holder_elsewhere(run_dir: Path) -> str | None:
    """Who holds `run_dir`'s lock, when another live process does (e.g. "process 4242 on node7, started ...")."""
    path = run_dir / LOCK_FILE
    if fcntl is None or holds(run_dir) or not path.is_file():
        return None
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return who(handle.read(4096).decode(errors="replace"))
        except OSError:  # a file system without locks: none is held
            return None
    return None  # closing the file released the shared lock taken to ask


def who(holder: str) -> str:
    """The lock file's contents in words."""
    try:
        about = json.loads(holder)
        return f"process {about['pid']} on {about['host']}, started {about['started']}"
    except (ValueError, KeyError, TypeError):
        return "a process that is starting"  # it holds the lock and has not yet said who it is


def in_use(run_dir: Path, holder: str) -> str:
    return (f"{run_dir} is in use by another run ({who(holder)}), which holds its lock {run_dir / LOCK_FILE}. Two runs "
            "writing one directory would interleave their metrics and overwrite each other's checkpoints, so this "
            "run did not start and changed nothing there. Fix: let that run finish, or stop it, then continue it "
            f"with resume={run_dir}; or give this run a folder of its own (hydra.run.dir=PATH).")


# ------------------------------------------------------------------------------------------------ the directory

@dataclass
class RunDirectory:
    """One run's directory: its paths, and its files read once (summary, rows and config upgraded to this version's
    format) or written (by process 0 of the run)."""

    path: Path
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, name: str = "last") -> Path:
        return self.checkpoints / f"{name}.pt"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def is_run(self) -> bool:
        """A folder that holds a run: its summary, or (a job that crashed before writing one) Hydra's config."""
        return self.summary_file.is_file() or (self.path / ".hydra" / "config.yaml").is_file()

    # Reading

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        if not self.summary_file.is_file():
            return None
        try:
            return upgrade("summary", json.loads(self.summary_file.read_text()))
        except ValueError:  # written halfway by a killed process
            return None

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        """metrics.jsonl's rows, each with images_seen; a row cut short by a killed process is left out."""
        lines = self.metrics_file.read_text().splitlines() if self.metrics_file.is_file() else []
        rows = []
        for line in lines:
            try:
                rows.append(upgrade("row", json.loads(line), config=self.config))
            except ValueError:
                continue
        return rows

    @cached_property
    def config(self) -> dict[str, Any]:
        """The composed config the run started with (.hydra/config.yaml), upgraded; {} when there is none."""
        return upgrade("config", _read_yaml(self.path / ".hydra" / "config.yaml") or {})

    @cached_property
    def overrides(self) -> list[str]:
        return _read_yaml(self.path / ".hydra" / "overrides.yaml") or []

    @cached_property
    def choices(self) -> dict[str, Any]:
        """The config groups' choices (Hydra's own groups left out)."""
        hydra = _read_yaml(self.path / ".hydra" / "hydra.yaml") or {}
        choices = hydra.get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
        return {group: choice for group, choice in choices.items() if not group.startswith("hydra/")}

    def latest_sample(self) -> Path | None:
        pictures = sorted(self.samples.glob("step_*.png"), key=natural_key)
        return pictures[-1] if pictures else None

    @property
    def outcome(self) -> str:
        """completed, diverged, interrupted (resumable) or failed (refused, or crashed: no summary)."""
        status = (self.summary or {}).get("status")
        return status if status in ("completed", "diverged", "interrupted") else "failed"

    def describe(self) -> str:
        """How the run ended, in one line (a sweep's summary)."""
        summary, elsewhere = self.summary, holder_elsewhere(self.path)
        if elsewhere:
            return f"failed: its directory is in use by another run ({elsewhere})"
        if summary is None:
            return "failed: no summary.json (the job crashed; see its gan-run.log)"
        if summary["status"] == "error":
            return f"failed: {summary['error']}"
        text = f"{summary['status']} at step {summary['step']}"
        if summary["status"] == "diverged":
            text += f" ({summary['diverged']['quantity']} became {summary['diverged']['value']})"
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary.get("metrics", {}).items())
        return text + (f"; {metrics}" if metrics else "")

    # Writing (process 0 of a run)

    def append_row(self, row: dict[str, Any]) -> None:
        """One line appended to metrics.jsonl, whole or not at all: a write that fails (a full disk) is taken back
        by truncating the file to its length before it (which frees room, so it cannot fail for want of it). The
        file is appended to, not rewritten, since a long run logs thousands of rows; the one thing no code can take
        back, a line cut by a kill mid-write, is skipped by `rows` and dropped by `truncate_rows_after` on resume."""
        line = (json.dumps(row) + "\n").encode()
        descriptor = os.open(self.metrics_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            length = os.lseek(descriptor, 0, os.SEEK_END)
            try:
                written = 0
                while written < len(line):
                    written += os.write(descriptor, line[written:])
            except BaseException:
                os.ftruncate(descriptor, length)
                raise
        finally:
            os.close(descriptor)

    def truncate_rows_after(self, step: int) -> None:
        """Drops the rows logged after `step` (a run resumed from its checkpoint at `step` logs them again) and a
        last line cut short by a kill, rewriting the file atomically."""
        if self.metrics_file.is_file():
            rows = []
            for line in self.metrics_file.read_text().splitlines():
                try:
                    if json.loads(line)["step"] <= step:
                        rows.append(line)
                except (ValueError, KeyError, TypeError):  # a line cut short, never a whole row
                    continue
            with replacing(self.metrics_file) as handle:
                handle.write("".join(row + "\n" for row in rows).encode())

    def write_summary(self, summary: dict[str, Any]) -> None:
        """summary.json, atomically (`replacing`): a reader never finds half of it."""
        text = json.dumps({"format_version": FORMAT_VERSION, **summary}, indent=2) + "\n"
        with replacing(self.summary_file) as handle:
            handle.write(text.encode())

    def write_error(self, message: str) -> None:
        """So that a sweep's summary can say why a job never trained."""
        try:
            self.write_summary({"status": "error", "error": message})
        except OSError:
            pass

    def keep_latest(self, step: int, keep: int) -> None:
        """With keep > 1, the checkpoint of `step` (last.pt) is also kept as step_NNNNNN.pt, and only the `keep`
        newest of those remain. keep = 1: last.pt alone."""
        if keep <= 1:
            return
        keep_copy(self.checkpoint("last"), self.checkpoints / f"step_{step:06d}.pt")
        for old in sorted(self.checkpoints.glob("step_*.pt"))[:-keep]:
            old.unlink()


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def natural_key(path: Path) -> list[Any]:
    """So that a sweep's job 10 comes after job 9."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_runs(folders: Iterable[Path], usage: str = "") -> list[RunDirectory]:
    """The run directories of the folders given: a folder that is a run, else every run below it, in natural order
    (a sweep's jobs; a job that crashed has Hydra's config and no summary). UserError for a folder with none."""
    runs: dict[Path, RunDirectory] = {}
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder. Fix: give a sweep directory (hydra.sweep.dir of a gan-run -m "
                            f"sweep) or run directories: {usage}")
        if RunDirectory(folder).is_run():
            found = [folder]
        else:
            below = {p.parent for p in folder.rglob("summary.json")}
            below |= {p.parent.parent for p in folder.rglob(".hydra/config.yaml")}
            found = sorted(below, key=natural_key)
        if not found:
            raise UserError(f"No runs in {folder}: no folder below it holds a summary.json or a .hydra/config.yaml. "
                            "Fix: give the sweep directory of a gan-run -m sweep (hydra.sweep.dir, by default "
                            "outputs/multirun/DATE/TIME) or the run directories themselves.")
        runs.update((path.resolve(), RunDirectory(path)) for path in found)
    return list(runs.values())


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


def check_writable(run_dir: Path) -> None:
    """Finds an unwritable run directory before training, not at the first checkpoint."""
    probe = run_dir / ".write-test"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"The run directory {run_dir} cannot be written ({error.strerror or error}). "
                        "Fix: choose a writable folder with hydra.run.dir=PATH (hydra.sweep.dir=PATH for "
                        "-m sweeps), or fix the folder's permissions.") from None


# ------------------------------------------------------------------------------------- files of earlier versions

def upgrade(kind: str, contents: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    """`contents` of a file of any version in this version's form: every compatibility shim lives here. `kind` is
    "checkpoint", "config" (a run's composed config, saved in .hydra/ and in its checkpoints), "summary" or "row" (a
    metrics.jsonl row; `config` is its run's)."""
    contents = dict(contents)
    if kind == "checkpoint":
        contents["config"] = upgrade("config", contents["config"])
        contents.setdefault("format_version", 1)
        contents.setdefault("num_classes", None)  # unconditional runs from before conditional ones existed
        contents.setdefault("source_shape", None)  # before games (gan_runner/game): every run was noise_to_data
        contents.setdefault("game", "noise_to_data")
        contents.setdefault("identity", None)
        contents.setdefault("logger_run_id", None)
        for part, empty in (("stats", {"sums": {}, "counts": {}}), ("health", {"events": [], "detectors": {}}),
                            ("scaler_d", {}), ("scaler_g", {})):  # parts added since (the scalers: fp32 runs)
            contents.setdefault(part, empty)
        if "images_seen" not in contents:  # before the counter: each D step saw one global batch
            contents["images_seen"] = int(contents["d_steps"]) * int(contents["config"]["train"]["batch_size"])
        numpy = contents["rng"]["numpy"]
        if not isinstance(numpy, dict):  # NumPy's state as a tuple holding an array (before 2026-11)
            import torch

            kind_, key, position, has_gauss, gauss = numpy
            contents["rng"] = {**contents["rng"], "numpy": {
                "kind": kind_, "key": torch.from_numpy(np.asarray(key).astype(np.int64)), "position": int(position),
                "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    elif kind == "config" and contents:
        contents = _upgrade_config(contents)
    elif kind == "summary":
        contents.setdefault("format_version", 1)
    elif kind == "row" and "images_seen" not in contents:  # before the counter: one batch per D step
        train = (config or {}).get("train", {})
        contents["images_seen"] = contents["step"] * train.get("batch_size", 1) * train.get("n_critic", 1)
    return contents


# DCGAN's discriminator norm as configs of its first versions named it: a module factory, now the option's name.
OLD_NORMS = {"torch.nn.BatchNorm2d": "batch", "torch.nn.InstanceNorm2d": "instance"}


def _upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved config with every key this version reads: train.* keys added since, with the values their absence
    meant (the schema's `before`); the latent, optimizer and health groups, which were once a plain value or
    absent; DCGAN's discriminator norm and the gradient penalties' points, once named as partial functions."""
    from gan_runner.schema import NOT_SET, train_fields

    config = json.loads(json.dumps(config))  # a deep copy of plain containers
    train = config.setdefault("train", {})
    for name, schema in train_fields().items():
        if name not in train and schema.metadata["before"] is not NOT_SET:
            train[name] = schema.metadata["before"]
    config.setdefault("conditional", False)
    # Before games were a choice every run was noise_to_data's (gan_runner/game/)
    config.setdefault("game", {"_target_": "gan_runner.game.noise_to_data.NoiseToData"})
    latent = config.get("latent", "normal")
    if isinstance(latent, str):  # `latent: uniform` before latent was a config group; absent: normal
        option = importlib.resources.files("gan_runner.conf") / "latent" / f"{latent}.yaml"
        if not option.is_file():
            raise UserError(f"The run's config names latent={latent!r}, which is not an option of the latent group. "
                            "Fix: latent=normal (z ~ N(0, I)) or latent=uniform (z ~ U(-1, 1)) on the command line.")
        config["latent"] = yaml.safe_load(option.read_text())
    if "optimizer" not in config:  # before the optimizer group: Adam with train.betas for both networks
        adam = {"_target_": "torch.optim.Adam", "_partial_": True, "betas": train.get("betas", [0.5, 0.999])}
        config["optimizer"] = {"g": dict(adam), "d": dict(adam)}
    if "health" not in config:  # before the health group: the diagnostics, no detectors
        config["health"] = {"_target_": "gan_runner.health.Health"}
    discriminator = (config.get("arch") or {}).get("discriminator") or {}
    norm = discriminator.get("norm")
    if isinstance(norm, dict) and norm.get("_target_") in OLD_NORMS:  # a module factory (before 2026-11)
        discriminator["norm"] = OLD_NORMS[norm["_target_"]]
    for regulariser in (config.get("regulariser") or {}).values():
        points = regulariser.get("points") if isinstance(regulariser, dict) else None
        if isinstance(points, dict) and points.get("_partial_"):  # the points named as functions (before 2026-11)
            points.pop("_partial_")
            module, _, name = points["_target_"].rpartition(".")
            points["_target_"] = f"{module}.{''.join(part.title() for part in name.split('_'))}"
    return config
