"""Mode coverage on the 2-D mixtures for every objective in conf/objective/, as PacGAN and VEEGAN report it.

Each (dataset, objective, seed) run uses the defaults in conf/ (`gan-run dataset=D arch=mlp objective=O
seed=S`) with no logger; the table gives the mean ± std over seeds of modes covered, the percentage of
high-quality samples and the reverse KL, and each run's final scatter plot is kept.

    python scripts/toy_table.py                       # every objective, ring8 and grid25, seeds 0-2
    python scripts/toy_table.py --objectives hinge --seeds 1 --jobs 1 -- train.steps=2000

Writes OUT/table.md, OUT/runs.jsonl (with each run's wall time) and OUT/<dataset>_<objective>_seed<S>.png
(OUT: outputs/toy_table). Two runs share the two cores here, so the whole table takes about half an hour.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PUBLISHED = {  # (row, modes, high-quality %, reverse KL) as published; VEEGAN's paper gives no reverse KL
    "ring8": [("GAN, PacGAN's table", 6.3, 98.2, 0.45), ("PacGAN, its best row", 7.9, 95.6, 0.07),
              ("GAN, VEEGAN's table", 1.0, 99.3, "–"), ("VEEGAN, its table", 8.0, 52.9, "–")],
    "grid25": [("GAN, PacGAN's table", 17.3, 94.8, 0.70), ("PacGAN, its best row", 24.8, 93.6, 0.04),
               ("GAN, VEEGAN's table", 3.3, 0.5, "–"), ("VEEGAN, its table", 24.6, 40.0, "–")],
}


def one_run(job: tuple[str, str, int, list[str], str]) -> dict:
    dataset, objective, seed, extra, out = job
    import torch
    from hydra import compose, initialize_config_module

    from gan_runner.train import train

    torch.set_num_threads(1)  # one process a core
    overrides = [f"dataset={dataset}", "arch=mlp", f"objective={objective}", f"seed={seed}", "logger=none", *extra]
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        summary = train(cfg, Path(run_dir), name=f"{dataset} {objective} seed {seed}")
        final = sorted((Path(run_dir) / "samples").glob("step_*.png"))[-1]
        shutil.copy(final, Path(out) / f"{dataset}_{objective}_seed{seed}.png")
    return {"dataset": dataset, "objective": objective, "seed": seed, "wall_time_s": summary["wall_time_s"],
            **summary["metrics"]}


def table(rows: list[dict], datasets: list[str], objectives: list[str]) -> str:
    def cell(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
        values = [v * scale for v in values]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"

    lines = []
    for dataset in datasets:
        seeds = len({r["seed"] for r in rows if r["dataset"] == dataset})
        lines += [f"**{dataset}** ({25 if dataset == 'grid25' else 8} modes; ours: mean ± std over {seeds} seeds)", "",
                  "| objective | modes | high quality % | reverse KL |", "|---|---|---|---|"]
        for objective in objectives:
            runs = [r for r in rows if r["dataset"] == dataset and r["objective"] == objective]
            if runs:
                lines.append(
                    f"| {objective} | {cell([r['toy/modes'] for r in runs])} "
                    f"| {cell([r['toy/high_quality'] for r in runs], 100)} "
                    f"| {cell([r['toy/reverse_kl'] for r in runs], digits=3)} |"
                )
        lines += [f"| *{name}* | {m} | {hq} | {kl} |" for name, m, hq, kl in PUBLISHED.get(dataset, [])]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    conf = Path(__file__).resolve().parents[1] / "conf" / "objective"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--objectives", nargs="+", default=sorted(p.stem for p in conf.glob("*.yaml")))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one CPU thread each")
    parser.add_argument("--out", default="outputs/toy_table")
    parser.add_argument("--table-from", type=Path, help="only rebuild the table from a runs.jsonl written before")
    parser.add_argument("overrides", nargs="*", help="extra gan-run overrides for every run (after --)")
    args = parser.parse_args()
    if args.table_from:
        rows = [json.loads(line) for line in args.table_from.read_text().splitlines() if line.strip()]
        print(table(rows, args.datasets, args.objectives))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(d, o, s, args.overrides, str(out)) for d in args.datasets for o in args.objectives
            for s in range(args.seeds)]
    started, rows = time.time(), []
    with ProcessPoolExecutor(args.jobs) as pool, open(out / "runs.jsonl", "w") as log:
        for row in pool.map(one_run, jobs):
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(f"{row['dataset']:7s} {row['objective']:14s} seed {row['seed']}: {row['toy/modes']:.0f} modes, "
                  f"{100 * row['toy/high_quality']:.1f}% high quality, reverse KL {row['toy/reverse_kl']:.3f} "
                  f"({row['wall_time_s']:.0f} s)", flush=True)
    text = table(rows, args.datasets, args.objectives)
    command = "python scripts/toy_table.py " + " ".join(
        [f"--seeds {args.seeds}"] + (["--", *args.overrides] if args.overrides else []))
    (out / "table.md").write_text(f"{text}\nMade by `{command}` in {time.time() - started:.0f} s.\n")
    print("\n" + text)


if __name__ == "__main__":
    main()
