"""The default run's speed on an idle and on a busy CPU, and with load that arrives mid-run, by thread setting: what
train.threads=auto buys.

    python scripts/bench_threads.py [--loads idle busy mid] [--steps 1500] [--busy 2] [--doc docs/results/speed.md]
    python scripts/bench_threads.py --loads mid [--load-after 1500] [--mid-steps 6000] [--busy 2] [--doc ...]

Each case is `gan-run` with its defaults (DCGAN on the 8x8 digits) but `train.steps=STEPS metrics=none
logger=none health=none` and no intermediate pictures, and one thread setting:
- `auto`: train.threads=auto with OMP_NUM_THREADS unset (the default a user gets);
- `OMP_NUM_THREADS=1`: the setting that survives a busy machine;
- `torch's default`: train.threads=<every core>, what gan-run did before train.threads existed.
"busy" starts BUSY processes that spin on a core each (`while True: pass`) before the run and stops them after it;
"idle" runs alone. Speed is steps / the run's own wall time (summary.json's wall_time_s: from the start of
training to its end). The cases alternate within a repetition, so a drift of the machine touches all of them.
"mid" starts the run on the idle machine and the BUSY spinners once its metrics.jsonl has a row at step
LOAD_AFTER or later (so auto decides its threads on an idle machine, as in the issue), then trains MID_STEPS steps
more (a tenth of them for torch's default threads, ~14x slower under load); its speed is that of the busy part
alone: the steps logged after the spinners started over the time of those rows (metrics.jsonl's
speed/steps_per_s), so the seconds that auto takes to notice the load are counted against it. The table also says
when auto changed its threads (gan-run.log's "threads: A -> B" lines, in seconds after the spinners started).
Nothing else may run meanwhile (the point of the benchmark is what other work does to a run). Prints a table and
the ratios the issue sets targets for (busy and mid: auto / OMP_NUM_THREADS=1 >= 0.8; idle: auto / torch's default
at least 0.95); with --doc, writes them into that page's sections `bench_threads.py` (idle, busy) and
`bench_threads.py mid-run`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from gan_runner.engine.threads import visible_cores

from doc_pages import write_section  # scripts/, beside this one

BIN = Path(sys.executable).parent


def command(steps: int, setting: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    """The default run's command line and environment with the thread setting's environment and override."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    overrides = [f"train.steps={steps}", "metrics=none", "logger=none", "health=none",
                 f"train.sample_every={steps}", f"train.checkpoint_every={steps}", f"hydra.run.dir={folder}"]
    if setting == "OMP_NUM_THREADS=1":
        env["OMP_NUM_THREADS"] = "1"
    elif setting == "torch's default":
        overrides.append(f"train.threads={visible_cores()}")
    return [str(BIN / "gan-run"), *overrides], env


def run_once(steps: int, setting: str, folder: Path) -> float:
    """Steps per second of one default run with the thread setting."""
    line, env = command(steps, setting, folder)
    subprocess.run(line, env=env, check=True, capture_output=True, timeout=3600)
    summary = json.loads((folder / "summary.json").read_text())
    return summary["step"] / summary["wall_time_s"]


def rows(folder: Path) -> list[dict]:
    file = folder / "metrics.jsonl"
    lines = file.read_text().splitlines() if file.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]  # a row being written is not read


def run_with_load_mid_run(steps_before: int, steps_after: int, setting: str, busy: int,
                          folder: Path) -> tuple[float, str]:
    """Steps per second of the part of one default run after BUSY spinners started at step `steps_before` (or the
    first row after it), and when auto changed its threads (seconds after the spinners started)."""
    line, env = command(steps_before + steps_after, setting, folder)
    others: list[subprocess.Popen] = []
    with open(folder.with_suffix(".out"), "w") as out:
        process = subprocess.Popen(line, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            while process.poll() is None and not others:
                loaded = [row["step"] for row in rows(folder) if "speed/steps_per_s" in row]
                if loaded and loaded[-1] >= steps_before:
                    others, started_at, load_step = spinners(busy), time.time(), loaded[-1]
                time.sleep(0.1)
            if process.wait(timeout=3600) != 0:
                raise RuntimeError(f"{' '.join(line)} failed: see {folder.with_suffix('.out')}")
        finally:
            for spinner in others:
                spinner.kill()
                spinner.wait()
            if process.poll() is None:
                process.kill()
    if not others:
        raise RuntimeError(f"the run ended before step {steps_before}: raise --mid-steps")
    after = [row for row in rows(folder) if "speed/steps_per_s" in row and row["step"] > load_step]
    previous = [load_step] + [row["step"] for row in after[:-1]]
    seconds = sum((row["step"] - before) / row["speed/steps_per_s"] for row, before in zip(after, previous))
    return (after[-1]["step"] - load_step) / seconds, changes(folder / "gan-run.log", started_at)


def changes(log: Path, since: float) -> str:
    """auto's thread changes in a run's log, each with its seconds after `since` (a time.time())."""
    found = []
    for line in log.read_text().splitlines() if log.exists() else []:
        if "] - threads: " in line:
            stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found.append(f"{line.split('] - threads: ', 1)[1].split(' (')[0]} at {stamp - since:+.0f} s")
    return "; ".join(found) or "none"


def spinners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


SETTINGS = ["auto", "OMP_NUM_THREADS=1", "torch's default"]


def measure(steps: int, busy: int, reps: int, loads: list[str]) -> dict[tuple[str, str], list[float]]:
    speeds: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        for rep in range(reps):
            for load in [load for load in loads if load in ("idle", "busy")]:
                for setting in SETTINGS:
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


def measure_mid_run(steps_before: int, steps_after: int, busy: int,
                    reps: int) -> dict[str, list[tuple[float, str]]]:
    """Per setting, each repetition's speed after the load came and auto's thread changes."""
    results: dict[str, list[tuple[float, str]]] = {}
    with tempfile.TemporaryDirectory() as work:
        for rep in range(reps):
            for setting in SETTINGS:
                # torch's default threads under load are ~14x slower: fewer steps keep the case short
                after = steps_after // 10 if setting == "torch's default" else steps_after
                result = run_with_load_mid_run(steps_before, after, setting, busy, Path(work) / f"mid_{rep}_"
                                               f"{SETTINGS.index(setting)}")
                results.setdefault(setting, []).append(result)
                print(f"rep {rep}: mid  {setting:18s} {result[0]:7.1f} steps/s after the load came; thread "
                      f"changes: {result[1]}", flush=True)
    return results


def report_mid_run(results: dict[str, list[tuple[float, str]]], busy: int, steps_before: int,
                   steps_after: int) -> str:
    median = {setting: statistics.median(speed for speed, _ in values) for setting, values in results.items()}
    lines = [f"| threads | steps/s after the load came (median of {len(results['auto'])}) | runs | thread changes "
             "(seconds after the load came) |", "|---|---:|---|---|"]
    for setting, values in results.items():
        lines.append(f"| {setting} | {median[setting]:.1f} | {', '.join(f'{v:.1f}' for v, _ in values)} | "
                     f"{' / '.join(change for _, change in values)} |")
    ratio = median["auto"] / median["OMP_NUM_THREADS=1"]
    collapse = median["OMP_NUM_THREADS=1"] / median["torch's default"]
    lines += ["", f"- load mid-run: auto / OMP_NUM_THREADS=1 = **{ratio:.2f}** (target at least 0.8); torch's default "
                  f"threads were {collapse:.1f}x slower than one thread",
              "", f"`python scripts/bench_threads.py --loads mid --load-after {steps_before} --mid-steps {steps_after} "
                  f"--busy {busy}` on {visible_cores()} cores, nothing else running: {busy} spinning processes start "
                  f"once the run (started on the idle machine) logged step {steps_before}."]
    return "\n".join(lines)


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
    parser.add_argument("--loads", nargs="+", choices=["idle", "busy", "mid"], default=["idle", "busy", "mid"])
    parser.add_argument("--load-after", type=int, default=1500, help="mid: the step after which the spinners start")
    parser.add_argument("--mid-steps", type=int, default=6000, help="mid: the steps trained after the load came")
    parser.add_argument("--doc", type=Path, help="a page whose sections bench_threads.py (idle, busy) and "
                        "bench_threads.py mid-run get the tables")
    args = parser.parse_args(argv)
    if {"idle", "busy"} <= set(args.loads):
        text = report(measure(args.steps, args.busy, args.reps, args.loads), args.busy, args.steps)
        print("\n" + text)
        if args.doc:
            write_section(args.doc, "bench_threads.py", text)
    elif {"idle", "busy"} & set(args.loads):
        parser.error("--loads idle and busy go together (the ratios compare them)")
    if "mid" in args.loads:
        text = report_mid_run(measure_mid_run(args.load_after, args.mid_steps, args.busy, args.reps), args.busy,
                              args.load_after, args.mid_steps)
        print("\n" + text)
        if args.doc:
            write_section(args.doc, "bench_threads.py mid-run", text)


if __name__ == "__main__":
    main()
