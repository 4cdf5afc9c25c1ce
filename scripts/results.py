"""Every paper preset of conf/experiment/ as typed, over 3 seeds, on data a CPU affords: the 8x8 digits (and the
8-Gaussian ring for the MLP presets), with a short stated budget of generator steps per preset.

Each (preset, dataset) is one sweep, `gan-run -m experiment=P seed=3,4,5 hydra/launcher=parallel
hydra.launcher.n_jobs=2 logger=none dataset=digits dataset.resolution=8 train.steps=N ...
hydra.sweep.dir=OUT/P_digits`; image presets train on digits at their own 8x8 side (dcgan's preset asks for 64),
MLP presets (arch mlp, e.g. gan2014) on ring8 and on digits. Everything else is the preset's own: the only
overrides are the dataset, its resolution, train.steps and the cadences of logging, samples, checkpoints and
metrics (4 evaluations a run, so gan-report draws curves). The presets glob conf/experiment/, so a new one is
picked up; one without a budget in BUDGET gets one from timing a few of its steps here (printed, and stated in
the page).

    python scripts/results.py                                # every preset, then the page
    python scripts/results.py --presets dcgan wgan_gp        # a subset (the page keeps every sweep done so far)
    python scripts/results.py --table-only                   # the page from the sweeps done so far

Writes OUT/table.md (OUT: outputs/results), gan-report's reports OUT/report_DATASET/report.md (curves, samples),
copies the latest sample grid of the first seed of each sweep to docs/results/presets/P_DATASET.png and rewrites the
section of docs/results/presets.md between `<!-- results.py presets: begin -->` and `<!-- results.py presets:
end -->` (the rest of the page is written by hand; a page without the markers gets the section appended;
--doc '' writes no page). A sweep whose folder holds summary.txt (written when a sweep ends) is not run again,
so the script can be stopped and restarted, losing at most the sweep in progress.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from gan_runner.commands import report
from gan_runner.run_directory import RunDirectory, find_runs
from gan_runner.study.compare import Group, estimate, outcome, wall_time

import preset_sources  # scripts/, beside this one
from doc_pages import run_timed_sweep, sweep_done, write_section

CONF = importlib.resources.files("gan_runner.conf")
# Seeds that no choice was made on: the budgets below were timed, and the presets' values sourced, on earlier
# runs with seeds 0, 1 and 2; the page reports these.
SEEDS = (3, 4, 5)
PARALLEL_JOBS = 2  # the 2 cores here: each job gets one thread (gan_runner.study.placement)
EVALUATIONS = 4    # metrics.every = steps / 4: enough points for a curve, few enough to cost little

# Generator steps per (preset, dataset), sized on this 2-core CPU (shared with another job) so that a run takes
# about a minute at full preset width, two seeds side by side on one thread each. Seconds per step in that setting,
# from a first pass of every sweep (1,500 steps for the light presets, 800 wgan, 500 wgan_gp, 350 cgan_digits,
# 15-20 the ResNets): dcgan, lsgan, fgan 0.011-0.013; gan2014 0.010 (digits), 0.011 (ring8); wgan 0.044; wgan_gp
# 0.048; cgan_digits 0.24; sngan and cgan_projection 1.8-3.7; sagan 2.5. So the ResNet presets (n_critic 5 at 256
# channels, or SAGAN's batch 256) get tens of steps: far too few to learn digits, which the page says. The cap
# keeps the whole set (11 sweeps) near half an hour.
BUDGET = {
    ("dcgan", "digits"): 5000, ("lsgan", "digits"): 5000, ("fgan", "digits"): 5000,
    ("gan2014", "digits"): 6000, ("gan2014", "ring8"): 6000,
    ("wgan", "digits"): 1600, ("wgan_gp", "digits"): 1500, ("cgan_digits", "digits"): 350,
    ("sngan", "digits"): 20, ("cgan_projection", "digits"): 20, ("sagan", "digits"): 15,
}
TARGET_TRAINING_S = 40  # a preset without a BUDGET entry, timed alone: ~1 min with two seeds side by side
MIN_STEPS, MAX_STEPS = 15, 6000   # so a timing off by far neither gives nothing nor an hour
# On the ring, an MLP preset's G gets the output 2-D data needs (gan2014's sigmoid is for pixels in [0, 1]).
DATASET_OVERRIDES = {"digits": ["dataset=digits", "dataset.resolution=8"],
                     "ring8": ["dataset=ring8", "arch.generator.output=auto"]}
METRICS = {  # (key, lower is better) in the page's columns
    "digits": [("digits/frechet", True), ("digits/confidence_ratio", False), ("digits/classes", False)],
    "ring8": [("toy/modes", False), ("toy/high_quality", False)],
}
SECTION = "presets"


def preset_names(conf: Any = CONF) -> list[str]:
    """Every preset but those that bring their own benchmark dataset (stacked_benchmark: a page of its own) and the
    paired game's (pix2pix, srgan: they translate images, not digits from noise; their digit tasks have pages of
    their own)."""
    return sorted(path.name.removesuffix(".yaml") for path in (conf / "experiment").iterdir()
                  if path.name.endswith(".yaml") and "override /dataset" not in path.read_text()
                  and "override /game: paired" not in path.read_text())


def is_mlp(preset: str, conf: Any = CONF) -> bool:
    """Whether the preset's defaults list chooses arch mlp (read from its YAML file: no composing needed)."""
    defaults = OmegaConf.to_container(OmegaConf.create((conf / "experiment" / f"{preset}.yaml").read_text())).get(
        "defaults", [])
    return any(isinstance(entry, dict) and entry.get("override /arch") == "mlp" for entry in defaults)


def datasets_of(preset: str) -> list[str]:
    """MLP presets also train on the ring, the 2-D data they were first shown on; image presets on digits only."""
    return ["ring8", "digits"] if is_mlp(preset) else ["digits"]


def cadences(steps: int) -> list[str]:
    """Losses ~50 times, a sample grid and an evaluation every quarter of the steps (rounded down, so a budget
    that 4 does not divide gets a fifth just before the end's), one checkpoint."""
    quarter = max(1, steps // EVALUATIONS)
    return [f"train.log_every={max(1, steps // 50)}", f"train.sample_every={quarter}", f"metrics.every={quarter}",
            f"train.checkpoint_every={steps}"]


def sweep_command(preset: str, dataset: str, steps: int, folder: Path) -> list[str]:
    return [sys.executable, "-m", "gan_runner.commands.run", "-m", f"experiment={preset}",
            f"seed={','.join(map(str, SEEDS))}", "hydra/launcher=parallel", f"hydra.launcher.n_jobs={PARALLEL_JOBS}",
            "logger=none", *DATASET_OVERRIDES[dataset], f"train.steps={steps}", *cadences(steps),
            f"hydra.sweep.dir={folder}"]


def sweep_folder(out: Path, preset: str, dataset: str) -> Path:
    return out / f"{preset}_{dataset}"


def sweeps_to_run(presets: list[str], out: Path) -> list[tuple[str, str]]:
    """(preset, dataset) pairs whose sweep has not ended yet, in order."""
    return [(p, d) for p in presets for d in datasets_of(p) if not sweep_done(sweep_folder(out, p, d))]


def seconds_to_train(preset: str, dataset: str, steps: int) -> float:
    """Wall time of a run of `steps` steps in a process of one thread (as a sweep job gets), without metrics."""
    code = ("import json, sys, tempfile, time, torch\n"
            "from pathlib import Path\n"
            "from hydra import compose, initialize_config_module\n"
            "from gan_runner.engine.loop import train\n"
            "torch.set_num_threads(1)\n"
            "with initialize_config_module(config_module='gan_runner.conf', version_base='1.3'):\n"
            "    cfg = compose(config_name='config', overrides=json.loads(sys.argv[1]))\n"
            "with tempfile.TemporaryDirectory() as folder:\n"
            "    start = time.perf_counter(); train(cfg, Path(folder)); print(time.perf_counter() - start)\n")
    overrides = [f"experiment={preset}", *DATASET_OVERRIDES[dataset], f"train.steps={steps}", "logger=none",
                 "metrics=none", "train.device=cpu", f"train.sample_every={steps}", f"train.checkpoint_every={steps}"]
    done = subprocess.run([sys.executable, "-c", code, json.dumps(overrides)], check=True, capture_output=True,
                          text=True)
    return float(done.stdout.split()[-1])


def timed_steps(preset: str, dataset: str) -> int:
    """A budget for a preset that BUDGET does not know, sized to TARGET_TRAINING_S from the time of N more steps
    than a 3-step run (so building the networks and the first, slow steps cancel out), N growing until those
    steps take a few seconds: a light preset's step is too short to time in tens."""
    short = seconds_to_train(preset, dataset, 3)
    extra = 10
    while True:
        difference = seconds_to_train(preset, dataset, 3 + extra) - short
        if difference > 3 or extra >= 1000:
            break
        extra *= 4
    seconds_per_step = max(difference, 1e-3) / extra
    budget = int(min(MAX_STEPS, max(MIN_STEPS, TARGET_TRAINING_S / seconds_per_step)))
    print(f"{preset} on {dataset}: {seconds_per_step:.3f} s a step alone -> a budget of {budget} steps", flush=True)
    return budget


def budget_of(preset: str, dataset: str) -> int:
    return BUDGET.get((preset, dataset)) or timed_steps(preset, dataset)


def run_sweep(preset: str, dataset: str, steps: int, folder: Path) -> float:
    """One sweep of the seeds, its output in FOLDER.log; returns its wall time, also kept in the folder."""
    return run_timed_sweep(sweep_command(preset, dataset, steps, folder), folder)


# ------------------------------------------------------------------------------------------------ the tables

def estimate_text(runs: list[RunDirectory], key: str) -> str:
    value = estimate(runs, key, "final")
    if value.mean is None:
        return "–"
    interval = "" if value.half_width is None else f" ± {value.half_width:.2g}"
    return f"{value.mean:.3g}{interval}" + ("" if value.n == len(runs) else f" (n={value.n})")


def sweep_row(preset: str, dataset: str, folder: Path) -> list[str]:
    runs = find_runs([folder], "")
    completed = [run for run in runs if outcome(run) == "completed"]
    steps = runs[0].config.get("train", {}).get("steps", "?")
    run_time = wall_time(Group(runs)).mean
    sweep_time = folder / "sweep_wall_time_s.txt"
    return [f"`{preset}`", f"{steps:,}" if isinstance(steps, int) else str(steps), str(len(runs)),
            str(len(completed)), str(sum(outcome(run) == "diverged" for run in runs)),
            *(estimate_text(completed, key) for key, _ in METRICS[dataset]),
            "–" if run_time is None else f"{run_time:.0f}",
            f"{float(sweep_time.read_text()):.0f}" if sweep_time.is_file() else "–"]


def results_table(out: Path, dataset: str, presets: list[str]) -> str:
    done = [p for p in presets if sweep_done(sweep_folder(out, p, dataset))]
    if not done:
        return ""
    metric_names = [f"{key} ({'lower' if lower else 'higher'} better)" for key, lower in METRICS[dataset]]
    header = ["preset", "G steps", "runs", "completed", "diverged", *metric_names, "run wall (s)", "sweep wall (s)"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(sweep_row(p, dataset, sweep_folder(out, p, dataset))) + " |" for p in done]
    return "\n".join(lines)


def budget_table(out: Path, presets: list[str]) -> str:
    """Steps per preset and dataset: a finished sweep's own, else BUDGET's (else timed when the sweep runs)."""
    lines = ["| preset | dataset | G steps | D steps per G step | overrides besides the preset's own values |",
             "|---|---|---|---|---|"]
    for preset in presets:
        for dataset in datasets_of(preset):
            folder = sweep_folder(out, preset, dataset)
            train = find_runs([folder], "")[0].config.get("train", {}) if sweep_done(folder) else {}
            steps = train.get("steps") or BUDGET.get((preset, dataset))
            n_critic = train.get("n_critic") or OmegaConf.create((CONF / "experiment" / f"{preset}.yaml").read_text()).get(
                "train", {}).get("n_critic", 1)
            overrides = " ".join([*DATASET_OVERRIDES[dataset], f"train.steps={steps}", *cadences(steps)]) if steps \
                else "timed when the sweep runs"
            lines.append(f"| `{preset}` | {dataset} | {f'{steps:,}' if steps else '?'} | {n_critic} | `{overrides}` |")
    return "\n".join(lines)


def copy_pictures(out: Path, presets: list[str], pictures: Path) -> dict[tuple[str, str], Path]:
    """Seed 0's latest sample grid of every finished sweep, copied next to the page."""
    copied = {}
    for preset in presets:
        for dataset in datasets_of(preset):
            folder = sweep_folder(out, preset, dataset)
            if not sweep_done(folder):
                continue
            first_seed = [run for run in find_runs([folder], "") if run.config.get("seed") == SEEDS[0]]
            latest = first_seed[0].latest_sample() if first_seed else None
            if latest is not None:
                pictures.mkdir(parents=True, exist_ok=True)
                copied[preset, dataset] = shutil.copyfile(latest, pictures / f"{preset}_{dataset}.png")
    return copied


def gan_reports(out: Path, presets: list[str]) -> None:
    """gan-report over every finished sweep of a dataset (curves against images seen, samples): OUT/report_D."""
    for dataset, metrics in METRICS.items():
        sweeps = [str(sweep_folder(out, p, dataset)) for p in presets if sweep_done(sweep_folder(out, p, dataset))]
        if sweeps:
            metric = "metric=" + ",".join(key for key, _ in metrics)
            report.report([*sweeps, metric, f"out={out / f'report_{dataset}'}"])


def picture_table(copied: dict[tuple[str, str], Path], page: Path | None, per_row: int = 4) -> list[str]:
    """The pictures as a Markdown table, PER_ROW a row, each under its preset's name, shown small."""
    cells = [(f"{preset} ({dataset})", path.relative_to(page.parent) if page else path)
             for (preset, dataset), path in copied.items()]
    lines = ["| " + " | ".join([" "] * per_row) + " |", "|---" * per_row + "|"]
    for first in range(0, len(cells), per_row):
        row = cells[first:first + per_row]
        row += [("", None)] * (per_row - len(row))
        lines.append("| " + " | ".join(f"**{name}**" if name else " " for name, _ in row) + " |")
        lines.append("| " + " | ".join(f'<img src="{where}" width="160" alt="{name}">' if where else " "
                                        for name, where in row) + " |")
    return lines


def section(out: Path, presets: list[str], page: Path | None, pictures: Path) -> str:
    lines = ["### Budget", "", budget_table(out, presets), ""]
    for dataset in METRICS:
        table = results_table(out, dataset, presets)
        if table:
            lines += [f"### Results on {dataset}", "", table, ""]
    lines += [("Each metric: the final value (after the last step), mean ± the half-width of the 95 % Student t "
               "interval over the completed seeds (gan-report's estimate); a diverged run is counted, never averaged "
               "in. Run wall: mean over completed runs of the run's own time; sweep wall: the whole sweep (start-up, "
               "3 seeds on 2 parallel jobs)."), ""]
    copied = copy_pictures(out, presets, pictures)
    if copied:
        lines += [f"### Samples (seed {SEEDS[0]}, the last grid)", "", *picture_table(copied, page), ""]
    return "\n".join(lines)


def write_doc(page: Path, text: str) -> None:
    """Put `text` between the section's markers, keeping the hand-written rest of the page."""
    write_section(page, f"results.py {SECTION}", text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=preset_names(), help="default: every conf/experiment/*.yaml")
    parser.add_argument("--out", type=Path, default=Path("outputs") / "results")
    parser.add_argument("--table-only", action="store_true", help="write the tables from the sweeps done so far")
    parser.add_argument("--doc", default=str(Path("docs") / "results" / "presets.md"),
                        help="the page whose section is rewritten ('' for none)")
    parser.add_argument("--sources-only", action="store_true",
                        help="rewrite only the page's deviations and sources tables, read from conf/experiment/")
    args = parser.parse_args(argv)
    page = Path(args.doc) if args.doc else None
    if page:
        write_section(page, "preset sources", preset_sources.section())
        print(f"wrote section preset sources of {page}")
    if args.sources_only:
        return
    sweeps = [(p, d) for p in args.presets for d in datasets_of(p)]
    todo = [] if args.table_only else sweeps_to_run(args.presets, args.out)
    print(f"{len(todo)} sweeps to run, {len(sweeps) - len(todo)} done before", flush=True)
    started = time.perf_counter()
    for number, (preset, dataset) in enumerate(todo, 1):
        steps = budget_of(preset, dataset)
        print(f"[{number}/{len(todo)}] {preset} on {dataset}, {steps} steps x {len(SEEDS)} seeds ...", flush=True)
        seconds = run_sweep(preset, dataset, steps, sweep_folder(args.out, preset, dataset))
        print(f"[{number}/{len(todo)}] {preset} on {dataset}: {seconds:.0f} s "
              f"({time.perf_counter() - started:.0f} s so far)", flush=True)
    every_preset = preset_names()  # the page shows every sweep done so far, not only this invocation's
    gan_reports(args.out, every_preset)
    text = section(args.out, every_preset, page, (page.parent if page else args.out) / "presets")
    made = f"{text}\nMade by `python scripts/results.py` (resumable; `--table-only` rebuilds this section).\n"
    (args.out / "table.md").write_text(made)
    if page:
        write_doc(page, made)
        print(f"wrote section {SECTION} of {page}")
    print("\n" + text)


if __name__ == "__main__":
    main()
