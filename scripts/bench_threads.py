"""The default run's speed on an idle and on a busy CPU, by thread setting: what train.threads=auto buys.

    python scripts/bench_threads.py [--steps 1500] [--busy 2] [--doc docs/results/speed.md]

Each case is `gan-run` with its defaults (DCGAN on the 8x8 digits) but `train.steps=STEPS metrics=none
logger=none health=none` and no intermediate pictures, and one thread setting:
- `auto`: train.threads=auto with OMP_NUM_THREADS unset (the default a user gets);
- `OMP_NUM_THREADS=1`: the setting that survives a busy machine;
- `torch's default`: train.threads=<every core>, what gan-run did before train.threads existed.
"busy" starts BUSY processes that spin on a core each (`while True: pass`) before the run and stops them after it;
"idle" runs alone. Speed is steps / the run's own wall time (summary.json's wall_time_s: from the start of
training to its end). The cases alternate within a repetition, so a drift of the machine touches all of them.
Nothing else may run meanwhile (the point of the benchmark is what other work does to a run). Prints a table and
the two ratios the issue sets targets for (busy: auto / OMP_NUM_THREADS=1 >= 0.8; idle: auto / torch's default
at least 0.95); with --doc, writes them into that page's section `bench_threads.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gan_runner.engine.threads import visible_cores
from gan_runner.study.docs import write_section

BIN = Path(sys.executable).parent


def run_once(steps: int, setting: str, folder: Path) -> float:
    """Steps per second of one default run with the thread setting's environment and override."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    overrides = [f"train.steps={steps}", "metrics=none", "logger=none", "health=none",
                 f"train.sample_every={steps}", f"train.checkpoint_every={steps}", f"hydra.run.dir={folder}"]
    if setting == "OMP_NUM_THREADS=1":
        env["OMP_NUM_THREADS"] = "1"
    elif setting == "torch's default":
        overrides.append(f"train.threads={visible_cores()}")
    subprocess.run([str(BIN / "gan-run"), *overrides], env=env, check=True, capture_output=True, timeout=3600)
    summary = json.loads((folder / "summary.json").read_text())
    return summary["step"] / summary["wall_time_s"]


def spinners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def measure(steps: int, busy: int, reps: int) -> dict[tuple[str, str], list[float]]:
    settings = ["auto", "OMP_NUM_THREADS=1", "torch's default"]
    speeds: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        for rep in range(reps):
            for load in ("idle", "busy"):
                for setting in settings:
                    # torch's default threads on a busy machine are ~14x slower: fewer steps keep the case short
                    n = steps // 10 if (load, setting) == ("busy", "torch's default") else steps
                    others = spinners(busy) if load == "busy" else []
                    try:
                        speed = run_once(n, setting, Path(work) / f"{rep}_{load}_{len(speeds)}")
                    finally:
                        for process in others:
                            process.kill()
                            process.wait()
                    speeds.setdefault((load, setting), []).append(speed)
                    print(f"rep {rep}: {load:4s} {setting:18s} {speed:7.1f} steps/s", flush=True)
    return speeds


def report(speeds: dict[tuple[str, str], list[float]], busy: int, steps: int) -> str:
    median = {case: statistics.median(values) for case, values in speeds.items()}
    lines = [f"| machine | threads | steps/s (median of {len(next(iter(speeds.values())))}) | runs |",
             "|---|---|---:|---|"]
    for (load, setting), values in speeds.items():
        lines.append(f"| {load if load == 'idle' else f'busy ({busy} spinning processes)'} | {setting} | "
                     f"{median[load, setting]:.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
    busy_ratio = median["busy", "auto"] / median["busy", "OMP_NUM_THREADS=1"]
    idle_ratio = median["idle", "auto"] / median["idle", "torch's default"]
    collapse = median["busy", "OMP_NUM_THREADS=1"] / median["busy", "torch's default"]
    lines += ["", f"- busy: auto / OMP_NUM_THREADS=1 = **{busy_ratio:.2f}** (target at least 0.8); torch's default "
                  f"threads were {collapse:.1f}x slower than one thread",
              f"- idle: auto / torch's default = **{idle_ratio:.2f}** (target: at least 0.95, no slower; on an idle "
              "machine both take every core, so the difference is the runs' own spread)",
              "", f"`python scripts/bench_threads.py --steps {steps} --busy {busy}` on {visible_cores()} cores, "
                  "nothing else running."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--busy", type=int, default=2, help="spinning processes beside the run on the busy machine")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--doc", type=Path, help="a page whose section bench_threads.py gets the table")
    args = parser.parse_args(argv)
    text = report(measure(args.steps, args.busy, args.reps), args.busy, args.steps)
    print("\n" + text)
    if args.doc:
        write_section(args.doc, "bench_threads.py", text)


if __name__ == "__main__":
    main()
