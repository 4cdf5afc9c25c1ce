"""Whole-process time and peak memory of `gan-run experiment=dcgan` against pytorch/examples' dcgan/main.py,
both training DCGAN-64 on the CPU for the same number of iterations (batch 64) on the same image folder.

    python scripts/bench_dcgan_process.py EXAMPLES [--reps 3] [--iters 20] [--workers 0 2] [--work DIR]
        [--threads N] [--wait-quiet S]

EXAMPLES is a checkout of https://github.com/pytorch/examples (this script downloads nothing; get one with
`git clone https://github.com/pytorch/examples`; any version whose dcgan/main.py takes --dataset folder).
Run it from the root of gan-runner with gan-runner importable (installed, or PYTHONPATH=$PWD) and the
interpreter both use (this one, or --python) holding torch and torchvision.

The folder holds iters x 64 PNGs (64x64 RGB: scikit-learn's digits upsampled and tinted), in one class
subfolder as torchvision's ImageFolder wants, so that the example's one epoch (--niter 1; its DataLoader keeps a
last partial batch, none here) is exactly `iters` iterations. The example: --dataset folder --workers W
--manualSeed 0 on the CPU (no --accel); it writes a real and a fake grid at iteration 0 and G's and D's weights
at the epoch's end, and prints a line per iteration. gan-run: experiment=dcgan dataset=image_folder
train.steps=iters logger=none metrics=none train.device=cpu; it writes one sample grid, one checkpoint (with the
optimisers), loss_curves.png and summary.json at the end. OMP_NUM_THREADS is removed from both environments, so
each uses every core. Runs alternate (gan-run, then the example with each --workers value, per repetition); each
is timed by /usr/bin/time -v (wall clock and peak RSS). Prints a markdown table of every run, the medians and
the ratio gan-run / example of the median wall times; for gan-run also the time inside train() (summary.json's
wall_time_s) and the rest of the process (imports, Hydra, exit).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCH, RESOLUTION = 64, 64


def make_images(folder: Path, count: int) -> Path:
    """`count` 64x64 RGB PNGs in folder/digits/ (one class), made once: digits upsampled and tinted."""
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from sklearn.datasets import load_digits

    images_dir = folder / "digits"
    if images_dir.is_dir() and len(list(images_dir.glob("*.png"))) == count:
        return folder
    images_dir.mkdir(parents=True, exist_ok=True)
    for old in images_dir.glob("*.png"):
        old.unlink()
    digits = torch.from_numpy(load_digits().images).float()[:, None] / 16.0
    rng = np.random.default_rng(0)
    for i in range(count):
        grey = F.interpolate(digits[i % len(digits)][None], size=RESOLUTION, mode="bilinear", align_corners=False)[0, 0]
        ink, paper = rng.uniform(0.3, 1.0, 3), rng.uniform(0.0, 0.3, 3)
        rgb = paper[None, None] + grey.numpy()[..., None] * (ink - paper)[None, None]
        Image.fromarray((rgb.clip(0, 1) * 255).round().astype(np.uint8)).save(images_dir / f"{i:05d}.png")
    return folder


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, /proc/stat), to see other work's share."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, busy_below: float = 0.1) -> float:
    """Waits (at most max_wait s) until the machine is less than `busy_below` busy over 2 s; the last share."""
    deadline, share = time.time() + max_wait, 1.0
    while True:
        before = busy_seconds()
        time.sleep(2)
        share = (busy_seconds() - before) / (2 * os.cpu_count())
        if share < busy_below or time.time() > deadline:
            return share


def timed(command: list[str], cwd: Path, log: Path, threads: int | None) -> dict[str, float]:
    """Runs `command` under /usr/bin/time -v: its wall clock (s), peak RSS (MiB), exit status, and the CPU
    seconds that other processes took meanwhile (the machine's busy time less this command's user + sys)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("WANDB_MODE", "disabled")
    busy_before = busy_seconds()
    with open(log, "w") as out:
        done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    busy = busy_seconds() - busy_before
    text = log.read_text()
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(clock.split(":"))))
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    own = sum(float(re.search(rf"{kind} time \(seconds\): (\S+)", text).group(1)) for kind in ("User", "System"))
    return {"wall_s": seconds, "rss_mib": rss_kib / 1024, "rc": done.returncode, "cpu_s": own,
            "others_cpu_s": max(0.0, busy - own)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("examples", type=Path, help="a checkout of github.com/pytorch/examples")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[0], help="the example's --workers (each a row)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dcgan-process-bench"))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for both (default: unset, every core)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S", help="before each run, wait up to "
                        "S seconds for the machine to be under 10%% busy (a CPU shared with other work)")
    args = parser.parse_args(argv)
    main_py = (args.examples / "dcgan" / "main.py").resolve()
    if not main_py.is_file():
        parser.error(f"{main_py} does not exist: give a checkout of https://github.com/pytorch/examples "
                     "(git clone https://github.com/pytorch/examples)")
    images = make_images(args.work / "images", args.iters * BATCH).resolve()
    repo = Path.cwd()

    def ours(rep: int) -> tuple[list[str], Path]:
        run_dir = args.work / "runs" / f"gan-run_{rep}"
        return [args.python, "-m", "gan_runner.commands.run", "experiment=dcgan", "dataset=image_folder",
                f"dataset.root={images}", f"train.steps={args.iters}", "logger=none", "metrics=none",
                "train.device=cpu", f"hydra.run.dir={run_dir.resolve()}"], run_dir

    def theirs(rep: int, workers: int) -> tuple[list[str], Path]:
        out = args.work / "runs" / f"example_w{workers}_{rep}"
        out.mkdir(parents=True, exist_ok=True)
        return [args.python, str(main_py), "--dataset", "folder", "--dataroot", str(images), "--workers",
                str(workers), "--niter", "1", "--batchSize", str(BATCH), "--imageSize", str(RESOLUTION),
                "--manualSeed", "0", "--outf", str(out.resolve())], out

    kinds = ["gan-run"] + [f"example --workers {w}" for w in args.workers]
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    print(f"OMP_NUM_THREADS: {args.threads or 'unset'}\n")
    print("| rep | command | wall (s) | peak RSS (MiB) | notes |")
    print("|---:|---|---:|---:|---|")
    for rep in range(args.reps):
        for kind in kinds:
            if kind == "gan-run":
                command, out = ours(rep)
            else:
                command, out = theirs(rep, int(kind.split()[-1]))
            out.mkdir(parents=True, exist_ok=True)
            if args.wait_quiet:
                wait_for_quiet(args.wait_quiet)
            row = timed(command, repo, args.work / "runs" / f"{out.name}.log", args.threads)
            if kind == "gan-run":
                summary = json.loads((out / "summary.json").read_text())
                ok = row["rc"] == 0 and summary["status"] == "completed" and summary["step"] == args.iters
                row["train_s"] = summary["wall_time_s"]
                note = f"train(): {row['train_s']:.1f} s, the rest {row['wall_s'] - row['train_s']:.1f} s"
            else:
                log = (args.work / "runs" / f"{out.name}.log").read_text()
                lines = re.findall(r"^\[0/1\]\[(\d+)/(\d+)\]", log, re.M)
                ok = row["rc"] == 0 and len(lines) == args.iters and int(lines[-1][1]) == args.iters
                note = f"{len(lines)} iterations"
            note += f"; CPU {row['cpu_s']:.0f} s, other processes' CPU meanwhile {row['others_cpu_s']:.0f} s"
            if not ok:
                print(f"{kind} failed or did not train {args.iters} iterations: see {args.work / 'runs'}",
                      file=sys.stderr)
                return 1
            results[kind].append(row)
            print(f"| {rep} | {kind} | {row['wall_s']:.2f} | {row['rss_mib']:.0f} | {note} |", flush=True)
    print(f"\nMedians over {args.reps} runs, {args.iters} iterations of batch {BATCH} at {RESOLUTION}x{RESOLUTION}, "
          f"CPU ({os.cpu_count()} cores):\n")
    print("| command | wall (s) | peak RSS (MiB) | gan-run / this (wall) |")
    print("|---|---:|---:|---:|")
    ours_wall = statistics.median(r["wall_s"] for r in results["gan-run"])
    for kind, rows in results.items():
        wall = statistics.median(r["wall_s"] for r in rows)
        ratio = "" if kind == "gan-run" else f"{ours_wall / wall:.2f}"
        print(f"| {kind} | {wall:.2f} | {statistics.median(r['rss_mib'] for r in rows):.0f} | {ratio} |")
    train_s = statistics.median(r["train_s"] for r in results["gan-run"])
    print(f"\ngan-run: median {train_s:.1f} s inside train() (data, networks, {args.iters} steps, grid, checkpoint, "
          f"loss curves, summary), {ours_wall - train_s:.1f} s outside it (imports, Hydra, exit).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
