"""Start-up and peak memory of a run on a prepared image folder against the number of images (issue 34 item 2):
a run on 40,000 images should start within 1.5x + 5 s of one on 200 and peak at most 0.5 GB above it.

    OMP_NUM_THREADS=1 python scripts/bench_startup.py [--images 40000] [--baseline 200] [--workers N] [--keep DIR]

It writes --images and --baseline synthetic 128x128 RGB PNGs (each its own random colour gradient, shapes and a
little noise, ~35 KB a file) into a temporary folder, prepares each with gan-prepare (timed: decoding happens once, here), then times one
`gan-run dataset=image_folder dataset.resolution=128 train.steps=2 metrics=none logger=none train.device=cpu` on each,
in a fresh process: wall seconds from launch to exit (imports, building, the memory map, two steps, the checkpoint)
and the child's peak resident memory (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss of a wrapper process that runs
only that child). The page cache is warm (the copy was just written), as it is for a run right after gan-prepare.

The old route (every start decodes the whole folder into memory) is no longer reachable: its figures, measured
before with the same images and run (issue 34), were 40,000 images 53 s and 10.1 GB peak, 200 images 20 s and
1.7 GB. Run it on an idle machine: another job on the same cores changes every number.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

BIN = Path(sys.executable).parent
SIDE = 128
OLD_ROUTE = {"images": 40000, "seconds": 53.0, "peak_gb": 10.1, "baseline_images": 200, "baseline_seconds": 20.0,
             "baseline_peak_gb": 1.7}  # issue 34, measured before the prepared format


def write_image(job: tuple[Path, int]) -> None:
    """One varied 128x128 RGB picture: a random colour gradient, a few random shapes, a little noise."""
    path, number = job
    rng = np.random.default_rng(number)
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    weights = rng.normal(size=(3, 3))
    pixels = np.stack([w[0] * x + w[1] * y + w[2] * x * y for w in weights], -1)
    pixels = (pixels - pixels.min()) / (np.ptp(pixels) + 1e-6) * 255
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 6)):
        box = sorted(rng.integers(0, SIDE, 2).tolist()) + sorted(rng.integers(0, SIDE, 2).tolist())
        colour = tuple(rng.integers(0, 256, 3).tolist())
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([box[0], box[2], box[1], box[3]], fill=colour)
    noisy = np.asarray(image).astype(np.int16) + rng.integers(-8, 9, (SIDE, SIDE, 3))
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, compress_level=1)


def write_folder(folder: Path, n: int) -> float:
    started = time.perf_counter()
    folder.mkdir(parents=True)
    jobs = [(folder / f"{number:06d}.png", number) for number in range(n)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        for _ in pool.imap_unordered(write_image, jobs, chunksize=64):
            pass
    return time.perf_counter() - started


def measured(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak resident GB of `command` in a fresh child (of a wrapper that runs nothing else)."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "started = time.perf_counter()\n"
               "code = subprocess.run(sys.argv[1:]).returncode\n"
               "print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")
    result = subprocess.run([sys.executable, "-c", wrapper, *command], cwd=cwd, capture_output=True, text=True)
    seconds, kilobytes, code = result.stdout.split()[-3:]
    if code != "0":
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return float(seconds), int(kilobytes) / 1e6


def one_size(where: Path, n: int, workers: int | None) -> dict:
    source, prepared = where / f"images-{n}", where / "prepared"
    written = write_folder(source, n)
    prepare = [str(BIN / "gan-prepare"), str(source), str(prepared), f"resolution={SIDE}"]
    prepare_seconds, prepare_gb = measured(prepare + ([f"workers={workers}"] if workers else []), where)
    run = [str(BIN / "gan-run"), "dataset=image_folder", f"dataset.root={source}", f"dataset.prepared_dir={prepared}",
           f"dataset.resolution={SIDE}", "train.steps=2", "metrics=none", "logger=none", "train.device=cpu",
           f"hydra.run.dir={where / f'run-{n}'}"]
    seconds, peak = measured(run, where)
    return {"images": n, "write_s": round(written, 1), "prepare_s": round(prepare_seconds, 1),
            "prepare_peak_gb": round(prepare_gb, 2), "run_s": round(seconds, 1), "run_peak_gb": round(peak, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40000)
    parser.add_argument("--baseline", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None, help="gan-prepare's workers (default: its own choice)")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=args.keep))
    try:
        small, large = one_size(where, args.baseline, args.workers), one_size(where, args.images, args.workers)
    finally:
        if args.keep is None:
            shutil.rmtree(where, ignore_errors=True)
    time_ok = large["run_s"] <= 1.5 * small["run_s"] + 5
    memory_ok = large["run_peak_gb"] <= small["run_peak_gb"] + 0.5
    print(json.dumps({"baseline": small, "large": large, "old_route_measured_before": OLD_ROUTE,
                      "threads": os.environ.get("OMP_NUM_THREADS", "torch's default")}, indent=1))
    print(f"start-up: {large['run_s']:.1f} s for {args.images} images vs {small['run_s']:.1f} s for {args.baseline} "
          f"(promise: at most {1.5 * small['run_s'] + 5:.1f} s) {'PASS' if time_ok else 'FAIL'}")
    print(f"peak memory: {large['run_peak_gb']:.2f} GB vs {small['run_peak_gb']:.2f} GB (promise: at most "
          f"{small['run_peak_gb'] + 0.5:.2f} GB) {'PASS' if memory_ok else 'FAIL'}")
    print(f"measured before (the old route, issue 34): {OLD_ROUTE['images']} images {OLD_ROUTE['seconds']} s and "
          f"{OLD_ROUTE['peak_gb']} GB; {OLD_ROUTE['baseline_images']} images {OLD_ROUTE['baseline_seconds']} s and "
          f"{OLD_ROUTE['baseline_peak_gb']} GB")


if __name__ == "__main__":
    main()
