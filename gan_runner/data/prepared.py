"""The prepared format of a folder (or zip) of images: decoded once, at the training resolution and channels, into
one uint8 array that later runs memory-map.

A prepared copy is a folder `<prepared_dir>/<source name>-<R>px-<C>c-<hash of the source's path>/` holding

    images.npy   uint8, N x C x R x R, NumPy's .npy format (opened as a memory map: no decoding, a start that does
                 not grow with N; batches read their own images' bytes through a RowReader)
    labels.npy   int64, N (only when every image sits in a class subfolder)
    index.json   the format version, the source, its fingerprint, the resolution, channels, count, classes and
                 the relative names of the images in order

Why this format (measured by scripts/bench_prepared.py, see docs/data.md): a batch is an index into the array,
with nothing to decode, where a zip of PNGs (stylegan2-ada's dataset_tool) decodes every image of every batch.

Atomic: a copy is written into a hidden `.<name>.partial-<host>-<pid>` folder beside it and renamed into place when whole,
so an interrupted or failed prepare (a full disk, an undecodable file) leaves nothing that looks ready, and the
partial folder is removed (or, after a kill, by the next prepare). A copy whose source has changed since (another
fingerprint: the sorted list of relative paths, sizes and modification times; a zip's names, sizes and CRCs) is
noticed at the next start and prepared again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import socket
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gan_runner.data import to_uint8_images
from gan_runner.errors import UserError

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the layout changes: an older copy is then prepared again
CHUNK = 256  # images written at once


def cache_home() -> Path:
    """gan-runner's cache folder: $GAN_RUNNER_CACHE, else ~/.cache/gan-runner (prepared copies, fitted judges)."""
    return Path(os.environ.get("GAN_RUNNER_CACHE") or "~/.cache/gan-runner").expanduser()


def cache_root() -> Path:
    """Where prepared copies go when dataset.prepared_dir is not given: $GAN_RUNNER_CACHE/prepared, else
    ~/.cache/gan-runner/prepared."""
    return cache_home() / "prepared"


def copy_name(source: Any, resolution: int, channels: int) -> str:
    """The prepared copy's folder name: the source's name, the size, and a hash of the source's full path."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", source.location.name)[:40]
    where = hashlib.sha256(str(source.location).encode()).hexdigest()[:12]
    return f"{stem}-{resolution}px-{channels}c-{where}"


def read_index(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "index.json").read_text())
    except (OSError, ValueError):
        return None


def check_workers(workers: int | None) -> None:
    """Refuses (one paragraph) a dataset.workers that is not null or a whole number from 1."""
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise UserError(f"dataset.workers={workers!r}: the processes that decode the images while preparing must "
                        "be a whole number from 1. Fix: dataset.workers=4, or null to choose from the cores.")


def prepared_copy(source: Any, resolution: int, channels: int, prepared_dir: str | Path | None = None,
                  workers: int | None = None) -> Path:
    """The ready prepared copy of `source` (an image_folder.ImageSource) at this size, made first (by `workers`
    processes) when it is missing, of an older format, or of a source that has changed since."""
    root = Path(prepared_dir).expanduser() if prepared_dir else cache_root()
    folder = root / copy_name(source, resolution, channels)
    index = read_index(folder)
    if up_to_date(index, source.fingerprint):
        return folder
    if index is not None:
        log.warning("The prepared copy %s is of %s as it was before (its files have changed since, or the copy is "
                    "of an older format): preparing it again.", folder, source.location)
    started = time.perf_counter()
    workers = workers or default_workers(len(source.names))
    prepare(source, resolution, channels, folder, workers)
    log.info("Prepared %d images of %s at %dx%d, %d channel(s), in %s (%.1f s, %d process(es)); later runs read that "
             "copy.", len(source.names), source.location, resolution, resolution, channels, folder,
             time.perf_counter() - started, workers)
    return folder


def up_to_date(index: dict | None, fingerprint: str) -> bool:
    return index is not None and index.get("format") == FORMAT and index.get("fingerprint") == fingerprint


IMAGES_A_WORKER = 1000  # below this many images a process, starting one (it imports torch: ~2 s) costs more than it saves


def default_workers(n: int) -> int:
    """Decoding processes for n images: one a core this process may use, but no more than one a thousand images."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n // IMAGES_A_WORKER))


def to_training_size(image: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """One decoded uint8 image (C x H x W) as the dataset holds it: 1 x channels x resolution x resolution."""
    return to_uint8_images(image.float()[None] / 255.0, resolution, channels)


class TrainingSized:
    """Decodes one image of `source` by name into the prepared copy's uint8 1 x C x R x R, with its original mode and
    size; the same function in this process and in each worker, so the copy's bytes do not depend on the count."""

    def __init__(self, source: Any, resolution: int, channels: int) -> None:
        self.source, self.resolution, self.channels = source, resolution, channels
        self.mode = "L" if channels == 1 else "RGB"

    def __call__(self, name: str) -> tuple[np.ndarray, str, tuple[int, int]]:
        image, mode, size = self.source.decode(name, self.mode)
        return to_training_size(image, self.resolution, self.channels).numpy(), mode, size


_task: TrainingSized | None = None  # a decoding worker's task, set once when it starts


def start_worker(task: TrainingSized) -> None:
    global _task
    torch.set_num_threads(1)  # the workers are the parallelism
    _task = task


def in_worker(name: str) -> tuple[np.ndarray, str, tuple[int, int]]:
    return _task(name)


def decoded(source: Any, resolution: int, channels: int, workers: int):
    """Each image of `source` at the training size, in order: decoded here (workers = 1) or by `workers` spawned
    processes (spawned, not forked: a fork of a process whose OpenMP threads have run can hang). Workers that cannot
    start (a main module that cannot be imported again, e.g. a script piped to python) leave the rest to this one."""
    task = TrainingSized(source, resolution, channels)
    done = 0
    if workers > 1:
        context = multiprocessing.get_context("spawn")
        try:
            with ProcessPoolExecutor(workers, context, initializer=start_worker, initargs=(task,)) as pool:
                for result in pool.map(in_worker, source.names, chunksize=16):
                    yield result
                    done += 1
            return
        except BrokenProcessPool as error:
            log.warning("The decoding workers stopped (%s): decoding the other %d images in this process.", error,
                        len(source.names) - done)
    yield from map(task, source.names[done:])


def prepare(source: Any, resolution: int, channels: int, folder: Path, workers: int = 1) -> None:
    """Decodes every image of `source` to uint8 at `resolution` with `channels` into the prepared copy `folder`, with
    `workers` processes, atomically (see the module's docstring); a stale copy there is replaced, and an up-to-date
    one that another process installed meanwhile is kept."""

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"Could not make the folder {folder.parent} for prepared datasets: {error}. Fix: set "
                        "dataset.prepared_dir (gan-prepare: DEST) to a folder you can write.") from None
    remove_abandoned(folder)
    n, shape = len(source.names), (channels, resolution, resolution)
    needed = n * int(np.prod(shape)) + 64 * n + (1 << 16)  # the images, the labels and names, headers
    free = shutil.disk_usage(folder.parent).free
    if needed > free:
        raise UserError(disk_full(folder, needed, free))
    partial = folder.parent / f".{folder.name}.partial-{process_tag()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    modes, sizes = Counter(), Counter()
    target_mode = "L" if channels == 1 else "RGB"
    try:
        with open(partial / "images.npy", "wb") as file:
            np.lib.format.write_array_header_1_0(file, {"descr": "|u1", "fortran_order": False, "shape": (n, *shape)})
            chunk = []
            for image, mode, size in tqdm(decoded(source, resolution, channels, workers), total=n, unit="image",
                                          desc=f"preparing {source.location.name}", disable=None):
                modes[mode] += 1
                sizes[size] += 1
                chunk.append(image)
                if len(chunk) == CHUNK:
                    file.write(np.concatenate(chunk).tobytes())
                    chunk = []
            if chunk:
                file.write(np.concatenate(chunk).tobytes())
        if source.labels is not None:
            np.save(partial / "labels.npy", np.asarray(source.labels, dtype=np.int64))
        index = {"format": FORMAT, "source": str(source.location), "fingerprint": source.fingerprint,
                 "resolution": resolution, "channels": channels, "count": n, "classes": source.classes,
                 "modes": dict(modes), "sizes": len(sizes), "names": source.names}
        (partial / "index.json").write_text(json.dumps(index))
        converted = sum(count for mode, count in modes.items() if mode != target_mode)
        resized = sum(count for size, count in sizes.items() if size != (resolution, resolution))
        if converted or len(sizes) > 1:
            log.info("Of the %d images, %d were converted to %s (%s) and %d resized to %dx%d (%d different sizes).",
                     n, converted, target_mode, ", ".join(f"{m}: {c}" for m, c in sorted(modes.items())), resized,
                     resolution, resolution, len(sizes))
        install(partial, folder, source.fingerprint)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UserError(disk_full(folder, needed, shutil.disk_usage(folder.parent).free)) from None
        raise UserError(f"Could not write the prepared copy {folder}: {error}. Fix: set dataset.prepared_dir "
                        "(gan-prepare: DEST) to a folder you can write.") from None
    except BaseException:  # an undecodable image, Ctrl-C: nothing half-written stays
        shutil.rmtree(partial, ignore_errors=True)
        raise


def disk_full(folder: Path, needed: int, free: int) -> str:
    return (f"The disk holding {folder.parent} has {free / 1e6:.1f} MB free, and the prepared copy {folder.name} "
            f"needs {needed / 1e6:.1f} MB; nothing was left half-written. Fix: free space there, or set "
            "dataset.prepared_dir (gan-prepare: DEST) to a folder on a disk with room, or a smaller "
            "dataset.resolution.")


def install(partial: Path, folder: Path, fingerprint: str) -> None:
    """Renames the whole copy into place (atomic on one file system); a stale copy is moved aside first, and an up to
    date copy that another process has installed meanwhile is kept (ours is then discarded)."""
    if up_to_date(read_index(folder), fingerprint):
        shutil.rmtree(partial, ignore_errors=True)
        return
    stale = folder.parent / f".{folder.name}.stale-{process_tag()}"
    if folder.exists():
        os.rename(folder, stale)
    try:
        os.rename(partial, folder)
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or read_index(folder) is None:
            raise
        shutil.rmtree(partial, ignore_errors=True)  # another process prepared the same copy first
    shutil.rmtree(stale, ignore_errors=True)


def process_tag() -> str:
    """This process's host and id: the folders a prepare writes are its own, also on a file system that several
    machines share."""
    return f"{socket.gethostname()}-{os.getpid()}"


def remove_abandoned(folder: Path) -> None:
    """Removes the partial and stale folders of this copy left behind by processes of this machine that no longer
    run (killed while preparing); another machine's are its own to remove."""
    host = socket.gethostname()
    for leftover in folder.parent.glob(f".{folder.name}.*-{host}-*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RowReader:
    """Gathers images (rows) of a prepared images.npy by reading their bytes (pread), without mapping the file: a
    memory map's page faults map whole folios around each image (measured here: 65 scattered 128x128 images mapped
    89 MB of a 98 MB copy, madvise(MADV_RANDOM) or not), so a run's resident memory grew toward the copy's size;
    read, a batch costs its own bytes."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...]) -> None:
        self.path, self.offset, self.shape = path, offset, tuple(shape)
        self.row_bytes = int(np.prod(shape[1:]))
        self._fd: int | None = None

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        if self._fd is None:  # opened on first use, in the process that reads
            self._fd = os.open(self.path, os.O_RDONLY)
        rows = np.empty((len(index), *self.shape[1:]), dtype=np.uint8)
        for place, row in enumerate(index.tolist()):
            os.preadv(self._fd, [memoryview(rows[place]).cast("B")], self.offset + row * self.row_bytes)
        return torch.from_numpy(rows)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


def read_prepared(folder: Path) -> tuple[torch.Tensor, RowReader, torch.Tensor | None, dict]:
    """The prepared images as a uint8 tensor over a copy-on-write memory map of images.npy (nothing is read until
    indexed; never written back), a RowReader that batches gather from, the labels (or None) and the index."""
    index = read_index(folder)
    mapped = np.load(folder / "images.npy", mmap_mode="c")
    images = torch.from_numpy(mapped)
    reader = RowReader(folder / "images.npy", mapped.offset, mapped.shape)
    labels = torch.from_numpy(np.load(folder / "labels.npy")) if (folder / "labels.npy").is_file() else None
    return images, reader, labels, index
