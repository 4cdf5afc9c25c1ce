"""Checkpoints: everything needed to sample from a run, or to continue it exactly."""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_runner.engine import distributed
from gan_runner.errors import UserError

# What a resumed run needs besides the weights: optimisers, the step counters, every RNG.
RESUME_KEYS = ("step", "d_steps", "config", "data_shape", "G", "D", "G_ema", "opt_g", "opt_d", "regularisers", "rng")


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain containers, so that checkpoints load with weights_only=True."""
    kind, key, position, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
        state["cuda_current"] = torch.cuda.get_rng_state()  # the generator this process draws from
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    numpy = state["numpy"]
    if isinstance(numpy, dict):
        key = numpy["key"].numpy().astype(np.uint32)
        numpy = (numpy["kind"], key, numpy["position"], numpy["has_gauss"], numpy["gauss"])
    np.random.set_state(numpy)  # else a tuple with a NumPy array: a checkpoint of an earlier version
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
        if distributed.active() and "cuda_current" in state:
            # Each process draws on its own GPU, and all must draw alike: every one continues process 0's.
            torch.cuda.set_rng_state(state["cuda_current"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Writes atomically: a temporary file, flushed to disk, then renamed over `path`, so a run killed
    mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def keep_copy(path: Path, copy: Path) -> None:
    """`copy` becomes the same checkpoint as `path`: a hard link where the filesystem has them (no extra
    space, no extra write), else a copy; atomic either way."""
    temporary = copy.with_name(f".{copy.name}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(path, temporary)
    except OSError:
        shutil.copyfile(path, temporary)
    os.replace(temporary, copy)


def keep_latest(directory: Path, step: int, keep: int) -> None:
    """With keep > 1, the checkpoint of `step` (last.pt) is also kept as step_NNNNNN.pt, and only the
    `keep` newest of those remain. keep = 1: last.pt alone."""
    if keep <= 1:
        return
    keep_copy(directory / "last.pt", directory / f"step_{step:06d}.pt")
    for old in sorted(directory.glob("step_*.pt"))[:-keep]:
        old.unlink()


# Checkpoints of earlier versions kept NumPy's RNG state as an array: allowed, as data (NumPy's own array
# reconstruction, no arbitrary callable). Everything else a checkpoint holds is tensors and plain containers.
NUMPY_ARRAYS = [getattr(np, "_core", None) and np._core.multiarray._reconstruct or np.core.multiarray._reconstruct,
                np.ndarray, np.dtype, type(np.dtype(np.uint32))]


class UnsafeCheckpoint(Exception):
    """The file asks to run code (or build objects) when opened: it is not opened."""


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint opened with weights_only=True: tensors and plain containers only, so a file someone shares
    cannot run code when it is opened. One that tries is refused with UnsafeCheckpoint."""
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


def load_for_resume(path: Path) -> dict[str, Any]:
    """A checkpoint to continue from, or one paragraph saying why it cannot be. The file is only read."""
    try:
        state = load_checkpoint(path)
    except UnsafeCheckpoint as error:
        raise UserError(refusal(path, error)) from None
    except Exception as error:  # truncated, not a torch file, unreadable
        raise UserError(f"Cannot resume from {path}: the file cannot be read ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else 'no detail'}). It was left untouched. "
                        "Fix: resume from another checkpoint of the run (checkpoints/step_*.pt when "
                        "train.keep_checkpoints > 1), or start the run afresh.") from None
    missing = [key for key in RESUME_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise UserError(f"Cannot resume from {path}: it lacks {', '.join(missing)}, so it was not written by "
                        "this version of gan-run's training loop (or is not a gan-run checkpoint). It was left "
                        "untouched. Fix: resume a run made by this version, or start afresh.")
    return state
