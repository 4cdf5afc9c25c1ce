"""Mode coverage on the 2-D mixtures for every objective x regulariser, as PacGAN and VEEGAN report it.

Each (dataset, objective, regulariser, seed) run uses the defaults in conf/ (`gan-run dataset=D arch=mlp
objective=O regulariser=R seed=S`) with no logger; the table gives, over seeds, the modes covered, the
percentage of high-quality samples and the reverse KL, and each run's final scatter plot is kept. A run that
diverges (a NaN or an infinity, `status: diverged`) counts as 0 modes, 0 % and an infinite reverse KL, and
its cell says how many seeds diverged.

    python scripts/toy_table.py                                  # every objective x {none, gp, spectral_norm}
    python scripts/toy_table.py --objectives hinge --regularisers gp0 --seeds 1 -- train.steps=2000
    python scripts/toy_table.py --table-only                     # the table from the runs done so far
    python scripts/toy_table.py --table-only --doc docs/results/toy2d.md   # ... and into the docs page

Writes OUT/runs.jsonl (one line per run, with its wall time), OUT/table.md and
OUT/<dataset>_<objective>_<regulariser>_seed<S>.png (OUT: outputs/toy_table). With --doc PAGE it also
rewrites the table's section of that Markdown page: the lines between the markers
`<!-- toy_table.py SECTION: begin -->` and `<!-- toy_table.py SECTION: end -->` (SECTION: OUT's folder name
unless --section says otherwise), leaving the rest of the page as it is; a page without them gets the
section appended. Runs already in
OUT/runs.jsonl with the same overrides are not run again, so the script can be stopped and restarted;
seeds run in order, so a partial table has whole seeds. Two runs share the two cores here: a 4,000-step
ring8 run takes about 80 s and a 7,000-step grid25 run about 140 s.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

PUBLISHED = {  # (row, modes, high-quality %, reverse KL) as published; VEEGAN's paper gives no reverse KL
    "ring8": [("GAN, PacGAN's table", 6.3, 98.2, 0.45), ("PacGAN, its best row", 7.9, 95.6, 0.07),
              ("GAN, VEEGAN's table", 1.0, 99.3, "–"), ("VEEGAN, its table", 8.0, 52.9, "–")],
    "grid25": [("GAN, PacGAN's table", 17.3, 94.8, 0.70), ("PacGAN, its best row", 24.8, 93.6, 0.04),
               ("GAN, VEEGAN's table", 3.3, 0.5, "–"), ("VEEGAN, its table", 24.6, 40.0, "–")],
}


Job = tuple[str, str, str, int, tuple[str, ...]]  # dataset, objective, regulariser, seed, overrides


def one_run(job: Job, out: str) -> dict:
    dataset, objective, regulariser, seed, extra = job
    import torch
    from hydra import compose, initialize_config_module

    from gan_runner.train import train

    torch.set_num_threads(1)  # one process a core
    overrides = [f"dataset={dataset}", "arch=mlp", f"objective={objective}", f"regulariser=[{regulariser}]",
                 f"seed={seed}", "logger=none", *extra]
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        summary = train(cfg, Path(run_dir), name=f"{dataset} {objective} {regulariser} seed {seed}")
        samples = sorted((Path(run_dir) / "samples").glob("step_*.png"))
        if samples:  # a run that diverged early may have none
            shutil.copy(samples[-1], Path(out) / f"{dataset}_{objective}_{regulariser}_seed{seed}.png")
    row = {"dataset": dataset, "objective": objective, "regulariser": regulariser, "seed": seed,
           "overrides": list(extra), "status": summary["status"], "wall_time_s": summary["wall_time_s"],
           **summary["metrics"]}
    if "diverged" in summary:
        row["diverged_step"] = summary["diverged"]["step"]
    return row


def key(row: dict) -> Job:
    return row["dataset"], row["objective"], row.get("regulariser", "gp0"), row["seed"], tuple(row.get("overrides", []))


DIVERGED = {"toy/modes": 0.0, "toy/high_quality": 0.0, "toy/reverse_kl": math.inf}  # G gave NaN: no samples


def value(row: dict, name: str) -> float:
    """A metric of a run; a run that diverged counts as covering nothing."""
    return row[name] if row.get("status", "completed") == "completed" else DIVERGED[name]  # old rows have no status


def cell(runs: list[dict]) -> str:
    """modes / high-quality % / reverse KL, means over seeds, and how many seeds diverged."""
    mean = lambda name: statistics.mean(value(r, name) for r in runs)  # noqa: E731
    text = f"{mean('toy/modes'):.1f} / {100 * mean('toy/high_quality'):.1f} / {mean('toy/reverse_kl'):.2f}"
    diverged = sum(r.get("status") == "diverged" for r in runs)
    return text + (f" ({diverged} diverged)" if diverged else "")


def table(rows: list[dict], datasets: list[str], objectives: list[str], regularisers: list[str]) -> str:
    lines = []
    for dataset in datasets:
        here = [r for r in rows if r["dataset"] == dataset]
        seeds = sorted({r["seed"] for r in here})
        over = f"seed {seeds[0]}" if len(seeds) == 1 else "mean over seeds " + ", ".join(map(str, seeds))
        lines += [f"**{dataset}** ({25 if dataset == 'grid25' else 8} modes). Each cell: modes / high-quality % / "
                  f"reverse KL, {over}; **bold**: every seed covered every mode with at least 70 % high-quality "
                  "samples.", "",
                  "| objective | " + " | ".join(regularisers) + " |", "|---" * (len(regularisers) + 1) + "|"]
        for objective in objectives:
            cells = []
            for regulariser in regularisers:
                runs = [r for r in here if r["objective"] == objective and r.get("regulariser", "gp0") == regulariser]
                text = cell(runs) if runs else "–"
                modes = 25 if dataset == "grid25" else 8
                if runs and all(value(r, "toy/modes") == modes and value(r, "toy/high_quality") >= 0.7 for r in runs):
                    text = f"**{text}**"
                if runs and len(runs) < len(seeds):  # a cell still missing seeds says how many it has
                    text += f" ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
                cells.append(text)
            if any(c != "–" for c in cells):
                lines.append(f"| {objective} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"Published on {dataset}: " + "; ".join(f"{name} {m} / {hq} / {kl}" for name, m, hq, kl in
                                                         PUBLISHED.get(dataset, [])) + ".", ""]
    return "\n".join(lines)


def write_doc(page: Path, section: str, text: str) -> None:
    """Put `text` between the section's markers in a Markdown page, keeping everything outside them; a page
    (or a page without the markers) gets the section at its end."""
    begin, end = f"<!-- toy_table.py {section}: begin -->", f"<!-- toy_table.py {section}: end -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    old = page.read_text() if page.exists() else ""
    if begin in old and end in old.split(begin, 1)[1]:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + block + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(new)


def main() -> None:
    conf = Path(__file__).resolve().parents[1] / "conf"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--objectives", nargs="+", default=sorted(p.stem for p in (conf / "objective").glob("*.yaml")))
    parser.add_argument("--regularisers", nargs="+", default=["none", "gp", "spectral_norm"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one CPU thread each")
    parser.add_argument("--out", type=Path, default=Path("outputs/toy_table"))
    parser.add_argument("--table-only", action="store_true", help="write the table from the runs done so far")
    parser.add_argument("--doc", type=Path, help="also rewrite the table's section of this Markdown page, "
                        "e.g. docs/results/toy2d.md")
    parser.add_argument("--section", help="the section's name in --doc's markers (default: OUT's folder name)")
    parser.add_argument("overrides", nargs="*", help="extra gan-run overrides for every run (after --)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs_file = args.out / "runs.jsonl"
    rows = [json.loads(line) for line in runs_file.read_text().splitlines()] if runs_file.exists() else []
    done = {key(row) for row in rows}
    jobs = [(d, o, r, s, tuple(args.overrides)) for s in range(args.seeds) for d in args.datasets
            for o in args.objectives for r in args.regularisers]
    jobs = [] if args.table_only else [job for job in jobs if job not in done]
    print(f"{len(jobs)} runs to do, {len(rows)} done before", flush=True)
    with ProcessPoolExecutor(args.jobs) as pool, open(runs_file, "a") as log:
        futures = [pool.submit(one_run, job, str(args.out)) for job in jobs]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            result = (f"diverged at step {row['diverged_step']}" if row["status"] == "diverged" else
                      f"{value(row, 'toy/modes'):.0f} modes, {100 * value(row, 'toy/high_quality'):.1f}% high "
                      f"quality, reverse KL {value(row, 'toy/reverse_kl'):.3f}")
            print(f"{row['dataset']:7s} {row['objective']:16s} {row['regulariser']:14s} seed {row['seed']}: "
                  f"{result} ({row['wall_time_s']:.0f} s)", flush=True)
    wanted = tuple(args.overrides)
    rows = [row for row in rows if tuple(row.get("overrides", [])) == wanted]
    text = table(rows, args.datasets, args.objectives, args.regularisers)
    command = " ".join(["python scripts/toy_table.py", *(a for a in sys.argv[1:] if a != "--table-only")])
    hours = sum(r["wall_time_s"] for r in rows) / 3600
    made = f"{text}\nMade by `{command}` ({len(rows)} runs, {hours:.1f} CPU-run hours).\n"
    (args.out / "table.md").write_text(made)
    if args.doc:
        write_doc(args.doc, args.section or args.out.name, made)
        print(f"wrote section {args.section or args.out.name} of {args.doc}")
    print("\n" + text)


if __name__ == "__main__":
    main()
