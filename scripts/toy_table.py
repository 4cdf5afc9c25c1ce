"""Mode coverage on the 2-D mixtures for every objective x regulariser, as PacGAN and VEEGAN report it: a Hydra
multirun per (dataset, seed) and gan-report over them.

Each sweep is `gan-run -m dataset=D arch=mlp objective=O1,O2,... regulariser=R1,R2,... seed=S logger=none
hydra.sweep.dir=OUT/D_seedS` with the defaults in conf/ and the extra overrides given after `--`. The table of
each dataset is gan-report's (OUT/report_D/table.md, with its plots and samples in report.md): per objective x
regulariser, over seeds, the modes covered, the fraction of high-quality samples and the reverse KL, means and
95 % t intervals over the completed seeds. A run that diverges (a NaN or an infinity, `status: diverged`) is
counted in the table's diverged column and never averaged in. Below each table: the published rows.

    python scripts/toy_table.py                                  # every objective x {none, gp, spectral_norm}
    python scripts/toy_table.py --objectives hinge --regularisers gp0 --seeds 1 -- train.steps=2000
    python scripts/toy_table.py --seeds 5 --first-seed 3 --out outputs/toy_table_heldout  # seeds 3-7
    python scripts/toy_table.py --table-only                     # the table from the sweeps done so far
    python scripts/toy_table.py --table-only --doc docs/results/toy2d.md   # ... and into the docs page

Writes OUT/table.md (OUT: outputs/toy_table). With --doc PAGE it also rewrites the table's section of that
Markdown page: the lines between the markers `<!-- toy_table.py SECTION: begin -->` and
`<!-- toy_table.py SECTION: end -->` (SECTION: OUT's folder name unless --section says otherwise), leaving the
rest of the page as it is; a page without them gets the section appended. A sweep whose folder holds its
summary.txt (written when a sweep ends) is not run again, so the script can be stopped and restarted, losing at
most the sweeps in progress; seeds run in order, so a partial table has whole seeds. Another choice of
objectives, regularisers or overrides needs another --out. Two sweeps share the two cores here: a 4,000-step
ring8 run takes about 80 s and a 7,000-step grid25 run about 140 s.
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gan_runner.commands import report
from gan_runner.run_directory import RunDirectory, find_runs
from gan_runner.study.compare import choice, outcome

from doc_pages import write_section  # scripts/, beside this one

PUBLISHED = {  # (row, modes, high-quality %, reverse KL) as published; VEEGAN's paper gives no reverse KL
    "ring8": [("GAN, PacGAN's table", 6.3, 98.2, 0.45), ("PacGAN, its best row", 7.9, 95.6, 0.07),
              ("GAN, VEEGAN's table", 1.0, 99.3, "–"), ("VEEGAN, its table", 8.0, 52.9, "–")],
    "grid25": [("GAN, PacGAN's table", 17.3, 94.8, 0.70), ("PacGAN, its best row", 24.8, 93.6, 0.04),
               ("GAN, VEEGAN's table", 3.3, 0.5, "–"), ("VEEGAN, its table", 24.6, 40.0, "–")],
}
METRICS = "metric=toy/modes,toy/high_quality,toy/reverse_kl"
MODES = {"ring8": 8, "grid25": 25}


def sweep_folder(out: Path, dataset: str, seed: int) -> Path:
    return out / f"{dataset}_seed{seed}"


def run_sweep(folder: Path, dataset: str, seed: int, objectives: list[str], regularisers: list[str],
              extra: list[str]) -> None:
    """One gan-run -m sweep of every objective x regulariser, one CPU thread (two sweeps share the cores)."""
    command = [sys.executable, "-m", "gan_runner.commands.run", "-m", f"dataset={dataset}", "arch=mlp",
               f"objective={','.join(objectives)}", f"regulariser={','.join(regularisers)}", f"seed={seed}",
               "logger=none", f"hydra.sweep.dir={folder}", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(folder.parent / f"{folder.name}.log", "w") as log:  # progress bars and errors, out of the way
        subprocess.run(command, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    print(f"{dataset} seed {seed}: done ({folder / 'summary.txt'})", flush=True)


def published(dataset: str) -> str:
    rows = "; ".join(f"{name} {m} / {hq} / {kl}" for name, m, hq, kl in PUBLISHED.get(dataset, []))
    return f"Published on {dataset} (modes / high-quality % / reverse KL): {rows}." if rows else ""


def seeds_table(out: Path, dataset: str) -> str:
    """Each seed's modes / high-quality % / reverse KL per objective and regulariser, and whether every seed covered
    every mode with at least 70 % high-quality samples: a claim about each seed, which means and intervals cannot
    make."""
    runs = find_runs(sorted(out.glob(f"{dataset}_seed*/")))
    seeds = sorted({run.config.get("seed") for run in runs})
    cells: dict[tuple[str, str], dict[int, RunDirectory]] = {}
    for run in runs:
        cells.setdefault((choice(run, "objective"), choice(run, "regulariser")), {})[run.config.get("seed")] = run
    lines = ["| objective + regulariser | " + " | ".join(f"seed {seed}" for seed in seeds)
             + " | every seed: all modes, >= 70 % high quality |", "|---" * (len(seeds) + 2) + "|"]
    for (objective, regulariser), by_seed in sorted(cells.items()):
        texts, good = [], len(by_seed) == len(seeds)
        for seed in seeds:
            run = by_seed.get(seed)
            metrics = (run.summary or {}).get("metrics", {}) if run and outcome(run) == "completed" else {}
            if "toy/modes" not in metrics:
                texts.append(outcome(run) if run else "–")
                good = False
                continue
            modes, quality = metrics["toy/modes"], metrics["toy/high_quality"]
            texts.append(f"{modes:g} / {100 * quality:.1f} / {metrics['toy/reverse_kl']:.3f}")
            good &= modes == MODES[dataset] and quality >= 0.7
        lines.append(f"| {objective} + {regulariser} | " + " | ".join(texts) + f" | {'yes' if good else 'no'} |")
    return "\n".join(lines)


def table(out: Path, datasets: list[str]) -> str:
    """gan-report's table of each dataset's sweeps and each seed's numbers, with the published rows below them."""
    lines = []
    for dataset in datasets:
        sweeps = sorted(str(folder) for folder in out.glob(f"{dataset}_seed*") if folder.is_dir())
        if not sweeps:
            continue
        made = report.report([*sweeps, METRICS, f"out={out / f'report_{dataset}'}"])
        heading = (f"**{dataset}** ({len(sweeps)} seed{'s' if len(sweeps) > 1 else ''}; plots and samples in "
                   f"{made / 'report.md'}):")
        lines += [heading, "", (made / "table.md").read_text().strip(), "",
                  "Each seed (modes / high-quality % / reverse KL):", "", seeds_table(out, dataset), "",
                  published(dataset), ""]
    return "\n".join(lines)


def write_doc(page: Path, section: str, text: str) -> None:
    """Put `text` between the markers `<!-- toy_table.py SECTION: begin/end -->` of a Markdown page."""
    write_section(page, f"toy_table.py {section}", text)


def main(argv: list[str] | None = None) -> None:
    conf = importlib.resources.files("gan_runner.conf")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--objectives", nargs="+", default=sorted(
        p.name.removesuffix(".yaml") for p in (conf / "objective").iterdir() if p.name.endswith(".yaml")))
    parser.add_argument("--regularisers", nargs="+", default=["none", "gp", "spectral_norm"])
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds (default 3)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed: --seeds 5 --first-seed 3 runs "
                        "seeds 3-7, held out from the seeds 0-2 on which conf/'s defaults were tuned")
    parser.add_argument("--jobs", type=int, default=2, help="sweeps at a time, one CPU thread each")
    parser.add_argument("--out", type=Path, default=Path("outputs/toy_table"))
    parser.add_argument("--table-only", action="store_true", help="write the table from the sweeps done so far")
    parser.add_argument("--doc", type=Path, help="also rewrite the table's section of this Markdown page, "
                        "e.g. docs/results/toy2d.md")
    parser.add_argument("--section", help="the section's name in --doc's markers (default: OUT's folder name)")
    parser.add_argument("overrides", nargs="*", help="extra gan-run overrides for every run (after --)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sweeps = [(d, s) for s in range(args.first_seed, args.first_seed + args.seeds) for d in args.datasets]
    todo = [] if args.table_only else [
        (d, s) for d, s in sweeps if not (sweep_folder(args.out, d, s) / "summary.txt").is_file()]
    print(f"{len(todo)} sweeps to do, {len(sweeps) - len(todo)} done before", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:  # threads: each waits on its own gan-run process
        for done in [pool.submit(run_sweep, sweep_folder(args.out, d, s), d, s, args.objectives, args.regularisers,
                                 args.overrides) for d, s in todo]:
            done.result()
    text = table(args.out, args.datasets)
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python scripts/toy_table.py", *(a for a in given if a != "--table-only")])
    made = f"{text}\nMade by `{command}`.\n"
    (args.out / "table.md").write_text(made)
    if args.doc:
        write_doc(args.doc, args.section or args.out.name, made)
        print(f"wrote section {args.section or args.out.name} of {args.doc}")
    print("\n" + text)


if __name__ == "__main__":
    main()
