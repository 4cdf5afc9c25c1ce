"""`gan-report`: the offline comparison of a study's runs (a `gan-run -m` sweep, or any run directories).

    gan-report SWEEP_DIR_OR_RUN_DIRS... [metric=KEY ...] [out=DIR]

A folder holding summary.json (or .hydra/config.yaml) is a run; any other folder stands for every run directory
below it. `metric=KEY` (repeatable, or a comma list) restricts the table and the metric plots to those summary
metrics; default: every key of the runs' summary `metrics` and their best key. `out=DIR` (default: the first
folder's report/) receives:

    table.md, table.csv  per group: runs, completed / diverged / interrupted / failed counts, each metric's mean
                         and 95 % confidence interval of the mean over the COMPLETED runs (of the final value,
                         and of the best value for the best key), the mean wall time of the completed runs, and
                         the health verdicts of all its runs (how many were healthy, how many had each problem)
    plots/KEY.png        each metric and each training statistic of metrics.jsonl against images seen
    samples/             the latest sample picture of one run per group (copied, so the report can be moved)
    report.md            the command, the folders read, the table, the failed runs, each run's health problems,
                         the plots and the samples

Groups are the runs' configurations without the seed: the flattened .hydra/config.yaml less the keys that say where
and how a run is run or recorded, not what is trained (seed, resume, hydra, logger, study and the train.* keys whose
schema says so: device, the logging, sampling and checkpoint cadences, compile, cuda_graph, ...). A group's
label is what differs between groups, in the form it was asked for: the job's overrides (`objective=hinge`),
then Hydra's group choices, and config values (`train.lr_d=0.001`) only where those do not tell groups apart.
A run whose status is error, or which has no summary.json, is counted as failed and listed with its reason.

The interval is Student's t: mean ± t(0.975, n - 1) s / sqrt(n), s the sample standard deviation; one run, or
a value that is not finite (an infinite reverse KL), gives a mean and no interval. A diverged or interrupted run
is counted in its column and never averaged in.
Curves: a group's line is the mean over its completed runs at the steps that all of them logged (no
interpolation), and its band spans their minimum to maximum (with a few seeds, a t interval would mostly show
t's width).

Exit statuses: 0 written; 2 bad input (a folder without runs, an unknown metric, ...): one paragraph on stderr.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from gan_runner.commands.arguments import Command, Option
from gan_runner.errors import UserError
from gan_runner.run_directory import RunDirectory, find_runs
from gan_runner.study.compare import (Group, chosen_metrics, failure, file_name, group_runs, known_metrics, problems,
                                      statistics_keys, table_markdown, table_rows, write_csv, write_plots)

USAGE = "gan-report SWEEP_DIR_OR_RUN_DIRS... [metric=KEY ...] [out=DIR]"
COMMAND = Command(
    name="gan-report",
    summary="compares a study's runs offline: table (means and 95 % intervals over seeds), curves, samples, health",
    options=[Option("metric", "a summary metric to show (repeat it, or a comma list; default: every metric and best "
                    "key of the runs)", placeholder="KEY", repeatable=True),
             Option("out", "the report's folder", default_text="the first folder's report/", placeholder="DIR")],
    positional="FOLDER...",
    details=__doc__.split("\n\n", 2)[2],
    examples=["gan-report outputs/multirun/2026-12-04/10-00-00",
              "gan-report outputs/multirun/2026-12-04/10-00-00 metric=toy/modes,toy/high_quality out=report/",
              "gan-report outputs/2026-12-04/10-00-00 outputs/2026-12-04/11-00-00   # two lone runs"],
)


# ------------------------------------------------------------------------------------------------ the report

def copy_samples(out: Path, groups: list[Group]) -> list[tuple[str, str]]:
    """(label, path relative to out) of the latest sample picture of one run per group, a completed one if any."""
    shown = []
    for number, group in enumerate(groups, 1):
        candidates = [run.latest_sample() for run in group.completed + group.runs]
        picture = next((p for p in candidates if p is not None), None)
        if picture is not None:
            target = out / "samples" / f"group{number}_{picture.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(picture, target)
            seed = RunDirectory(picture.parent.parent).config.get("seed")
            shown.append((f"{group.label}<br>seed {seed}, {picture.stem.replace('_', ' ')}", f"samples/{target.name}"))
    return shown


def samples_markdown(shown: list[tuple[str, str]], per_row: int = 4) -> list[str]:
    lines = []
    for start in range(0, len(shown), per_row):
        chunk = shown[start:start + per_row]
        lines += ["| " + " | ".join(label for label, _ in chunk) + " |", "|---" * len(chunk) + "|",
                  "| " + " | ".join(f"![samples]({path})" for _, path in chunk) + " |", ""]
    return lines


def report_markdown(command: str, folders: list[Path], table: str, groups: list[Group], plotted: list[str],
                    shown: list[tuple[str, str]]) -> str:
    failed = [run for group in groups for run in group.with_outcome("failed")]
    lines = ["# Report: " + ", ".join(folder.name or str(folder) for folder in folders), "",
             f"Made by `{command}`.", "", "Folders read: " + ", ".join(f"`{folder}`" for folder in folders), "",
             "## Table", "", table.rstrip(), ""]
    if failed:
        lines += ["## Failed runs", "", *(f"- `{run.path}`: {failure(run)}" for run in failed), ""]
    unhealthy = [run for group in groups for run in group.runs
                 if problems((run.summary or {}).get("health", "healthy"))]
    if unhealthy:
        lines += ["## Health problems", "", *(f"- `{run.path}`: {run.summary['health']}" for run in unhealthy), ""]
    lines += ["## Curves", "", ("Each line: the mean over a group's completed runs at the steps all of them logged "
                                "(no interpolation); the band: their minimum to maximum. x: real images D saw."), ""]
    lines += [f"![{key}](plots/{file_name(key)}.png)" for key in plotted] + [""]
    if shown:
        lines += ["## Samples", "", "The latest sample picture of one run per group.", "", *samples_markdown(shown)]
    return "\n".join(lines).rstrip() + "\n"


def report(argv: list[str]) -> Path:
    """Reads the runs, writes the report; returns its folder (for the scripts that write docs pages)."""
    given, _, folders = COMMAND.parse(argv)
    return report_of(given, folders, argv)


def report_of(options: dict, folders: list[str], argv: list[str]) -> Path:
    """The report of parsed options (`metric`, `out`, each possibly absent) and folders."""
    out = options.get("out")
    return write_report([Path(folder) for folder in folders], options.get("metric") or [],
                        Path(out) if out else None, argv)


def write_report(folders: list[Path], asked: list[str], out: Path | None, argv: list[str]) -> Path:
    if not folders:
        raise UserError(f"No folder given. Fix: name a sweep directory or run directories: {USAGE}")
    runs = find_runs(folders, USAGE)
    metrics, best_keys = chosen_metrics(runs, asked)
    all_metrics = known_metrics(runs)[0]
    groups = group_runs(runs)
    out = out or folders[0] / "report"
    out.mkdir(parents=True, exist_ok=True)
    table = table_markdown(groups, metrics, best_keys)
    (out / "table.md").write_text(table)
    write_csv(out / "table.csv", table_rows(groups, metrics, best_keys))
    plotted = write_plots(out, groups, metrics + statistics_keys(groups, all_metrics))
    command = shlex.join(["gan-report", *argv])
    (out / "report.md").write_text(report_markdown(command, folders, table, groups, plotted, copy_samples(out, groups)))
    return out


def main(argv: list[str] | None = None) -> None:
    def run(options: dict, prefixed: list[str], folders: list[str]) -> None:
        out = report_of(options, folders, sys.argv[1:] if argv is None else argv)
        print(f"gan-report: wrote {os.path.join(out, 'report.md')}")

    COMMAND.run(run, argv)


if __name__ == "__main__":
    main()
