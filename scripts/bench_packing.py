"""Many small runs on one GPU: a study of RUNS digits DCGAN-32 runs one after another, and packed K at a time on the
GPU with the parallel launcher (study.jobs_per_gpu=K), as runs per hour.

    python scripts/bench_packing.py [--runs 12] [--steps 300] [--ks 1 2 4 8] [--eager]

Each study is `gan-run -m seed=0,...,RUNS-1 dataset.resolution=32 train.steps=STEPS logger=none metrics=none
health=none` (the default DCGAN on digits at 32x32; train.cuda_graph=auto records the step on a GPU, --eager adds
the same studies with train.cuda_graph=false); K = 1 is Hydra's basic launcher (one run after another), K > 1 the
parallel launcher with study.jobs_per_gpu=K on one GPU (each job 1/K of the CPU cores). The time is the whole
sweep's wall clock, start-up of every process included, which is what a study waits for. Prints a table and each
K's speed-up over one after another (the issue's target: packed >= 3x). On a machine without CUDA it still runs
(a plumbing check: K jobs share the CPU cores, hydra.launcher.n_jobs=K), and says so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def study_seconds(runs: int, steps: int, k: int, eager: bool, folder: Path, cuda: bool) -> float:
    command = [str(BIN / "gan-run"), "-m", f"seed={','.join(map(str, range(runs)))}", "dataset.resolution=32",
               f"train.steps={steps}", f"train.sample_every={steps}", f"train.checkpoint_every={steps}",
               "logger=none", "metrics=none", "health=none", f"hydra.sweep.dir={folder}"]
    if eager:
        command.append("train.cuda_graph=false")
    if k > 1:
        command += ["hydra/launcher=parallel", f"study.jobs_per_gpu={k}" if cuda else f"hydra.launcher.n_jobs={k}"]
    if not cuda:
        command.append("train.device=cpu")
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--eager", action="store_true", help="also the studies with train.cuda_graph=false")
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available()
    where = torch.cuda.get_device_name(0) if cuda else "no CUDA: the CPU (a plumbing check, not the GPU's figure)"
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for eager in ([False, True] if args.eager else [False]):
            base = None
            for k in args.ks:
                seconds = study_seconds(args.runs, args.steps, k, eager, Path(work) / f"k{k}_{eager}", cuda)
                base = base or (seconds if k == 1 else None)
                rows.append((k, "eager" if eager else "auto", seconds, args.runs * 3600 / seconds,
                             base / seconds if base else None))
                print(f"K={k} {'eager' if eager else 'auto'}: {seconds:.1f} s", flush=True)
    print(f"\n{args.runs} digits DCGAN-32 runs of {args.steps} steps on {where}\n")
    print("| jobs per GPU | cuda_graph | study wall (s) | runs per hour | x one after another |\n|---|---|---:|---:|---:|")
    for k, mode, seconds, per_hour, speedup in rows:
        print(f"| {k} | {mode} | {seconds:.1f} | {per_hour:.0f} | {'' if speedup is None else f'{speedup:.2f}'} |")


if __name__ == "__main__":
    main()
