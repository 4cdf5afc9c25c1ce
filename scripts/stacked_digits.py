"""Objectives x regularisers ranked by mode coverage on stacked digits (1,000 modes), over held-out seeds: the page
docs/results/stacked_digits.md.

Each seed is one Hydra multirun of every cell, `gan-run -m experiment=stacked_benchmark objective=O1,O2,...
regulariser=R1,R2,... seed=S hydra/launcher=parallel hydra.launcher.n_jobs=2 logger=none hydra.sweep.dir=OUT/seedS`:
conf/experiment/stacked_benchmark.yaml holds the budget (DCGAN at 8x8, D a quarter of G's width, 6,000 G steps,
about a minute a run here). The budget was chosen on seed 10 (TUNING_SEED) and the page reports seeds 0, 1 and 2,
which tuned nothing. The tables are gan-report's estimates (mean and 95 % t interval over the completed seeds; a
diverged run is counted, never averaged in), arranged as objective x regulariser.

    python scripts/stacked_digits.py                     # every cell, 3 seeds (about 25 minutes here), then the page
    python scripts/stacked_digits.py --table-only        # the page from the sweeps done so far
    python scripts/stacked_digits.py --seeds 0 --objectives hinge --regularisers gp   # a part

Writes gan-report's report over every sweep to OUT/report/ (OUT: outputs/stacked_digits), seed 0's last sample grid
of each cell to docs/results/stacked_digits/, and the section of docs/results/stacked_digits.md between
`<!-- stacked_digits.py results: begin -->` and `<!-- stacked_digits.py results: end -->`, and the sizes of the
benchmark's networks, counted from the networks as the preset builds them, between the `stacked_digits.py networks`
markers (even with no sweep done); the rest of the page is written by hand and types no network size. A seed's
sweep whose folder holds summary.txt is not run again, so the script can be stopped and restarted, losing at most
the sweep in progress.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gan_runner.arch import count_parameters
from gan_runner.commands import report
from gan_runner.engine.build import build, networks
from gan_runner.run_directory import RunDirectory, find_runs
from gan_runner.study.compare import choice, estimate, outcome

from doc_pages import run_timed_sweep, sweep_done, write_section  # scripts/, beside this one

OBJECTIVES = ["nonsaturating", "minimax", "lsgan", "hinge", "wgan"]
REGULARISERS = ["none", "gp", "spectral_norm"]
SEEDS = [0, 1, 2]
TUNING_SEED = 10  # the seed the budget was chosen on; never reported
PARALLEL_JOBS = 2
PRESET = "stacked_benchmark"
METRICS = [("stacked/modes", "modes of 1,000 (higher better)"), ("stacked/kl", "KL to uniform (lower better)"),
           ("stacked/modes_quarter_share", "modes with at least a quarter of their share (higher better)")]
REAL = ["stacked/judge_accuracy", "stacked/modes_real", "stacked/kl_real", "stacked/modes_quarter_share_real"]
SECTION = "stacked_digits.py results"
NETWORKS = "stacked_digits.py networks"


def sweep_folder(out: Path, seed: int) -> Path:
    return out / f"seed{seed}"


def sweep_command(seed: int, objectives: list[str], regularisers: list[str], folder: Path) -> list[str]:
    return [sys.executable, "-m", "gan_runner.commands.run", "-m", f"experiment={PRESET}",
            f"objective={','.join(objectives)}", f"regulariser={','.join(regularisers)}", f"seed={seed}",
            "hydra/launcher=parallel", f"hydra.launcher.n_jobs={PARALLEL_JOBS}", "logger=none",
            f"hydra.sweep.dir={folder}"]


def run_sweep(seed: int, objectives: list[str], regularisers: list[str], folder: Path) -> float:
    return run_timed_sweep(sweep_command(seed, objectives, regularisers, folder), folder,
                           {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def finished(out: Path) -> list[Path]:
    """The sweep folders of the reported seeds that have finished."""
    return [sweep_folder(out, seed) for seed in SEEDS if sweep_done(sweep_folder(out, seed))]


def cells(runs: list[RunDirectory]) -> dict[tuple[str, str], list[RunDirectory]]:
    found: dict[tuple[str, str], list[RunDirectory]] = {}
    for run in runs:
        found.setdefault((choice(run, "objective"), choice(run, "regulariser")), []).append(run)
    return found


def cell_text(runs: list[RunDirectory], key: str) -> str:
    if not runs:
        return "–"
    completed = [run for run in runs if outcome(run) == "completed"]
    diverged = sum(outcome(run) == "diverged" for run in runs)
    value = estimate(completed, key, "final")
    text = "–" if value.mean is None else (f"{value.mean:.3g}" + ("" if value.half_width is None
                                                                  else f" ± {value.half_width:.2g}"))
    notes = [f"n={value.n}"] if value.n != len(runs) else []
    notes += [f"{diverged} diverged"] if diverged else []
    return text + (f" ({', '.join(notes)})" if notes else "")


def matrix(found: dict[tuple[str, str], list[RunDirectory]], key: str, objectives: list[str],
           regularisers: list[str]) -> str:
    lines = ["| objective | " + " | ".join(f"`{r}`" for r in regularisers) + " |",
             "|---" * (len(regularisers) + 1) + "|"]
    for objective in objectives:
        lines.append(f"| `{objective}` | " + " | ".join(cell_text(found.get((objective, r), []), key)
                                                       for r in regularisers) + " |")
    return "\n".join(lines)


def real_data_row(runs: list[RunDirectory]) -> str:
    """The protocol's own numbers (the same in every run: the judge and the held-out stacks do not depend on G)."""
    summary = next((run.summary for run in runs if run.summary and "stacked/modes_real" in run.summary.get(
        "metrics", {})), None)
    if summary is None:
        return ""
    metrics = summary["metrics"]
    protocol = summary.get("metrics_protocol", {})
    return (f"| {metrics['stacked/judge_accuracy']:.4f} | {metrics['stacked/modes_real']:.0f} | "
            f"{metrics['stacked/modes_quarter_share_real']:.0f} | {metrics['stacked/kl_real']:.4f} | "
            f"{protocol.get('n', '?')} | {protocol.get('judge', '?')} |")


def copy_grids(found: dict[tuple[str, str], list[RunDirectory]], pictures: Path) -> dict[tuple[str, str], Path]:
    copied = {}
    for cell, runs in found.items():
        seed0 = [run for run in runs if run.config.get("seed") == 0]
        latest = seed0[0].latest_sample() if seed0 else None
        if latest is not None:
            pictures.mkdir(parents=True, exist_ok=True)
            copied[cell] = shutil.copyfile(latest, pictures / f"{cell[0]}_{cell[1]}.png")
    return copied


def grid_table(copied: dict[tuple[str, str], Path], page: Path, objectives: list[str],
               regularisers: list[str]) -> str:
    lines = ["| objective | " + " | ".join(f"`{r}`" for r in regularisers) + " |",
             "|---" * (len(regularisers) + 1) + "|"]
    for objective in objectives:
        row = []
        for regulariser in regularisers:
            path = copied.get((objective, regulariser))
            row.append(f'<img src="{os.path.relpath(path, page.parent)}" width="140" '
                       f'alt="{objective}, {regulariser}">' if path else " ")
        lines.append(f"| `{objective}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def section(out: Path, page: Path, objectives: list[str], regularisers: list[str]) -> str:
    folders = finished(out)
    runs = find_runs(folders, "") if folders else []
    if not runs:
        return "No sweep has finished yet."
    found = cells(runs)
    seeds = sorted({run.config.get("seed") for run in runs})
    lines = [f"Seeds {', '.join(map(str, seeds))} ({len(runs)} runs).", ""]
    for key, title in METRICS:
        lines += [f"### `{key}`: {title}", "", matrix(found, key, objectives, regularisers), ""]
    lines += ["Each cell: the final value, mean ± the half-width of the 95 % Student t interval over the completed "
              "seeds (gan-report's estimate); `n=` when fewer seeds completed, and how many diverged (counted, "
              "never averaged in).", ""]
    real = real_data_row(runs)
    if real:
        lines += ["### The protocol on real data", "",
                  "| judge accuracy, held-out digits | modes, held-out real stacks | modes with a quarter share | "
                  "KL to uniform | stacks judged | judge |", "|---|---|---|---|---|---|", real, ""]
    copied = copy_grids(found, page.parent / "stacked_digits")
    if copied:
        lines += ["### Samples (seed 0, the last grid)", "", grid_table(copied, page, objectives, regularisers), ""]
    lines += ["Made by `python scripts/stacked_digits.py` (resumable; `--table-only` rebuilds this section); "
              "gan-report's full report, with every metric per cell: `outputs/stacked_digits/report/report.md`."]
    return "\n".join(lines)


@dataclass(frozen=True)
class Networks:
    """The benchmark's networks as built: the images' side, each network's width and parameter count."""

    side: int
    g_width: int
    g_parameters: int
    d_width: int
    d_parameters: int


def built_networks() -> Networks:
    """G and D as `gan-run experiment=stacked_benchmark` builds them (through the build code every run uses), so
    that the page prints the networks' sizes, not typed text."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"experiment={PRESET}", "regulariser=none", "logger=none"])
    dataset = build(cfg, "dataset")
    G, D, _ = networks(cfg, dataset.shape, dataset.num_classes if cfg.get("conditional") else None)
    return Networks(dataset.shape[-1], cfg.arch.generator.width, count_parameters(G), cfg.arch.discriminator.width,
                    count_parameters(D))


def networks_text(built: Networks) -> str:
    """The benchmark's networks in one sentence."""
    return (f"DCGAN networks at {built.side}x{built.side}: G of width {built.g_width}, {built.g_parameters:,} "
            f"parameters; D of width {built.d_width} ({built.d_width / built.g_width:g} of G's width), "
            f"{built.d_parameters:,} parameters ({100 * built.d_parameters / built.g_parameters:.1f} % of G's). "
            f"Counted from the networks `gan-run experiment={PRESET}` builds, by `python scripts/stacked_digits.py "
            "--table-only`.")


def readme_table(out: Path, objectives: list[str], regularisers: list[str]) -> str:
    """The README's example of a study: modes found, objective x regulariser, over the seeds done."""
    folders = finished(out)
    found = cells(find_runs(folders, "")) if folders else {}
    return f"Modes found of 1,000 (mean ± 95 % interval over {len(folders)} seeds):\n\n" + matrix(
        found, "stacked/modes", objectives, regularisers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objectives", nargs="+", default=OBJECTIVES)
    parser.add_argument("--regularisers", nargs="+", default=REGULARISERS)
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    parser.add_argument("--out", type=Path, default=Path("outputs") / "stacked_digits")
    parser.add_argument("--doc", type=Path, default=Path("docs") / "results" / "stacked_digits.md")
    parser.add_argument("--readme", type=Path, default=Path("README.md"),
                        help="a page whose section 'stacked_digits.py readme' (if it has one) gets the modes table")
    parser.add_argument("--table-only", action="store_true", help="write the page from the sweeps done so far")
    args = parser.parse_args(argv)
    if TUNING_SEED in args.seeds:
        parser.error(f"seed {TUNING_SEED} chose the budget: report other seeds")
    todo = [] if args.table_only else [s for s in args.seeds if not sweep_done(sweep_folder(args.out, s))]
    started = time.perf_counter()
    for number, seed in enumerate(todo, 1):
        print(f"[{number}/{len(todo)}] seed {seed}: {len(args.objectives) * len(args.regularisers)} runs ...",
              flush=True)
        seconds = run_sweep(seed, args.objectives, args.regularisers, sweep_folder(args.out, seed))
        print(f"[{number}/{len(todo)}] seed {seed}: {seconds:.0f} s ({time.perf_counter() - started:.0f} s so far)",
              flush=True)
    write_section(args.doc, NETWORKS, networks_text(built_networks()))  # needs no sweep
    folders = [str(folder) for folder in finished(args.out)]
    if not folders:  # a checkout without the study's outputs keeps its results as they are
        print(f"no finished sweep under {args.out}: the results in {args.doc} left as they are")
        return
    report.report([*folders, "metric=" + ",".join(key for key, _ in METRICS), f"out={args.out / 'report'}"])
    text = section(args.out, args.doc, args.objectives, args.regularisers)
    write_section(args.doc, SECTION, text)
    print(f"wrote section {SECTION} of {args.doc}\n\n{text}")
    readme_marker = "<!-- stacked_digits.py readme: begin -->"
    if args.readme.is_file() and readme_marker in args.readme.read_text():
        write_section(args.readme, "stacked_digits.py readme", readme_table(args.out, args.objectives,
                                                                            args.regularisers))


if __name__ == "__main__":
    main()
