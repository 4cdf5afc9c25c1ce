"""Wall time of one 4-job sweep run one job after another (Hydra's basic launcher) and side by side
(hydra/launcher=parallel, Hydra's joblib launcher).

    python scripts/bench_sweep.py [--steps 1500] [--n-jobs 2] [--doc docs/studies.md]

The sweep: ring8, objective=hinge,wgan x seed=0,1, logger=none, on the CPU (train.device=auto where no GPU
is seen). Each sweep is a real `gan-run -m` process, start-up (imports, config) included, since that is what
a user waits for. Prints both wall times and their ratio; --doc also writes them as a Markdown section of that
page (between this script's markers, keeping the rest of the page), else the section goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_pages import write_section  # scripts/, beside this one

REPO = Path(__file__).resolve().parents[1]
SWEEP = ["dataset=ring8", "logger=none", "objective=hinge,wgan", "seed=0,1"]


def timed_sweep(launcher_args: list[str], steps: int, sweep_dir: Path) -> float:
    """Seconds the whole `gan-run -m` takes; fails loudly when a job did not complete."""
    command = [sys.executable, "-m", "gan_runner.commands.run", "-m", *launcher_args, *SWEEP, f"train.steps={steps}",
               f"hydra.sweep.dir={sweep_dir}"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    summary = (sweep_dir / "summary.txt").read_text()
    if summary.count("completed at step") != 4:
        raise SystemExit(f"a job of {sweep_dir} did not complete:\n{summary}")
    return seconds


def section(steps: int, n_jobs: int, one_by_one: float, side_by_side: float) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"A 4-job sweep (ring8, {steps:,} steps each, objective=hinge,wgan x seed=0,1, logger=none) on "
            f"{cores} CPU cores, measured by `python scripts/bench_sweep.py --steps {steps} --n-jobs {n_jobs}`:\n\n"
            "| launcher | wall time |\n|---|---|\n"
            f"| basic (one job after another) | {one_by_one:.1f} s |\n"
            f"| `hydra/launcher=parallel hydra.launcher.n_jobs={n_jobs}` | {side_by_side:.1f} s |\n\n"
            f"Side by side takes {side_by_side / one_by_one:.2f}x the time ({one_by_one / side_by_side:.2f}x "
            "faster), start-up of each `gan-run -m` included.\n")


def write_doc(page: Path, text: str) -> None:
    """Put `text` between this script's markers in a Markdown page (appended when the page has none)."""
    write_section(page, "bench_sweep.py", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="generator steps of each job")
    parser.add_argument("--n-jobs", type=int, default=2, help="jobs at a time with the parallel launcher")
    parser.add_argument("--doc", type=Path, help="write the results as a section of this Markdown page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        one_by_one = timed_sweep([], args.steps, Path(scratch) / "basic")
        print(f"basic launcher (one after another): {one_by_one:.1f} s", flush=True)
        side_by_side = timed_sweep(["hydra/launcher=parallel", f"hydra.launcher.n_jobs={args.n_jobs}"], args.steps,
                                   Path(scratch) / "parallel")
        print(f"parallel launcher, n_jobs={args.n_jobs}: {side_by_side:.1f} s "
              f"(ratio parallel/basic {side_by_side / one_by_one:.2f})", flush=True)
    text = section(args.steps, args.n_jobs, one_by_one, side_by_side)
    if args.doc:
        write_doc(args.doc, text)
        print(f"written to {args.doc}")
    else:
        print(text)


if __name__ == "__main__":
    main()
