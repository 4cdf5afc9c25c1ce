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

Groups are the runs' configurations without the seed: the flattened .hydra/config.yaml less the keys of
IGNORED_KEYS (seed, resume, hydra, logger.*, train.device, the logging, sampling and checkpoint cadences,
train.compile, train.cuda_graph and arch.tiny), which say where and how a run is run or recorded, not what is trained. A group's
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

import csv
import json
import math
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from gan_runner.errors import UserError

# Config keys (and every key below them) that do not change the experiment, so runs differing only there are
# seeds of one configuration: the seed itself; resuming; Hydra's own settings; where the numbers are logged;
# the device; how often losses, pictures and checkpoints are written, and how many are kept; torch.compile and
# CUDA graphs (the same arithmetic, launched otherwise); how long processes wait for each other; and arch.tiny
# (the tests' shrinking overrides, never applied by a run).
IGNORED_KEYS = ("seed", "resume", "hydra", "logger", "study", "train.device", "train.log_every", "train.sample_every",
                "train.checkpoint_every", "train.keep_checkpoints", "train.compile", "train.cuda_graph",
                "train.collective_timeout_s", "arch.tiny")
OUTCOMES = ("completed", "diverged", "interrupted", "failed")
ROW_BOOKKEEPING = ("step", "images_seen")  # metrics.jsonl columns that are no statistic
USAGE = "gan-report SWEEP_DIR_OR_RUN_DIRS... [metric=KEY ...] [out=DIR]"


def ignored(key: str) -> bool:
    return any(key == name or key.startswith(name + ".") for name in IGNORED_KEYS)


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """Dotted keys to JSON-encoded leaves; lists and empty mappings are leaves."""
    if isinstance(tree, dict) and tree:
        return {k: v for name, child in tree.items() for k, v in flatten(child, f"{prefix}{name}.").items()}
    return {prefix.rstrip("."): json.dumps(tree, sort_keys=True)}


def natural_key(path: Path) -> list[Any]:
    """So that a sweep's job 10 comes after job 9."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def read_yaml(path: Path, default: Any) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else default


@dataclass
class Run:
    """One run directory, read once."""

    directory: Path

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        path = self.directory / "summary.json"
        return json.loads(path.read_text()) if path.is_file() else None

    @cached_property
    def config(self) -> dict[str, Any]:
        return read_yaml(self.directory / ".hydra" / "config.yaml", {}) or {}

    @cached_property
    def experiment(self) -> dict[str, str]:
        """The flattened config less IGNORED_KEYS: what makes two runs seeds of one configuration."""
        return {k: v for k, v in flatten(self.config).items() if not ignored(k)}

    @cached_property
    def overrides(self) -> list[str]:
        return read_yaml(self.directory / ".hydra" / "overrides.yaml", []) or []

    @cached_property
    def choices(self) -> dict[str, Any]:
        hydra = read_yaml(self.directory / ".hydra" / "hydra.yaml", {}) or {}
        choices = hydra.get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
        return {group: choice for group, choice in choices.items() if not group.startswith("hydra/")}

    @property
    def outcome(self) -> str:
        status = (self.summary or {}).get("status")
        return status if status in OUTCOMES[:3] else "failed"

    @property
    def failure(self) -> str:
        if self.summary is None:
            return "no summary.json (the job crashed; see its gan-run.log)"
        return self.summary.get("error") or f"status {self.summary.get('status')!r}"

    def final(self, key: str) -> float | None:
        return (self.summary or {}).get("metrics", {}).get(key)

    def best(self, key: str) -> float | None:
        best = (self.summary or {}).get("best") or {}
        return best.get("value") if best.get("key") == key else None

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        path = self.directory / "metrics.jsonl"
        lines = path.read_text().splitlines() if path.is_file() else []
        return [json.loads(line) for line in lines if line.strip()]

    def images_seen(self, row: dict[str, Any]) -> float:
        """Real images D saw by this row: its own count when logged, else step x batch size x D steps per step."""
        if "images_seen" in row:
            return row["images_seen"]
        train = self.config.get("train", {})
        return row["step"] * train.get("batch_size", 1) * train.get("n_critic", 1)

    def latest_sample(self) -> Path | None:
        pictures = sorted((self.directory / "samples").glob("step_*.png"), key=natural_key)
        return pictures[-1] if pictures else None


@dataclass
class Group:
    runs: list[Run]
    label: str = ""

    def with_outcome(self, outcome: str) -> list[Run]:
        return [run for run in self.runs if run.outcome == outcome]

    @property
    def completed(self) -> list[Run]:
        return self.with_outcome("completed")


# ---------------------------------------------------------------------------------------------- finding runs

def is_run(folder: Path) -> bool:
    return (folder / "summary.json").is_file() or (folder / ".hydra" / "config.yaml").is_file()


def find_runs(folders: Iterable[Path]) -> list[Run]:
    runs: dict[Path, Run] = {}
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder. Fix: give a sweep directory (hydra.sweep.dir of a "
                            f"gan-run -m sweep) or run directories: {USAGE}")
        below = {p.parent for p in folder.rglob("summary.json")}
        below |= {p.parent.parent for p in folder.rglob(".hydra/config.yaml")}  # a crashed job has no summary
        found = [folder] if is_run(folder) else sorted(below, key=natural_key)
        if not found:
            raise UserError(f"No runs in {folder}: no folder below it holds a summary.json or a .hydra/config.yaml. "
                            "Fix: give the sweep directory of a gan-run -m sweep (hydra.sweep.dir, by default "
                            "outputs/multirun/DATE/TIME) or the run directories themselves.")
        runs.update((path.resolve(), Run(path)) for path in found)
    return list(runs.values())


# -------------------------------------------------------------------------------------------------- grouping

def group_runs(runs: list[Run]) -> list[Group]:
    """Runs with equal experiment configs, in the order their first run was found, labelled."""
    by_config: dict[tuple, Group] = {}
    for run in runs:
        by_config.setdefault(tuple(sorted(run.experiment.items())), Group([])).runs.append(run)
    groups = list(by_config.values())
    for group, label in zip(groups, labels(groups)):
        group.label = label
    return groups


def differing_keys(groups: list[Group]) -> list[str]:
    keys = dict.fromkeys(k for group in groups for k in group.runs[0].experiment)
    return [k for k in keys if len({group.runs[0].experiment.get(k) for group in groups}) > 1]


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+")


def covers(name: str, key: str) -> bool:
    return key == name or key.startswith(name + ".")


def asked_for(run: Run, keys: list[str]) -> list[str]:
    """How the run asked for its values of `keys`: its overrides first, else its config groups' choices."""
    parts = []
    for key in keys:
        overrides = [o for o in run.overrides if covers(override_key(o).lstrip("~"), key)]
        groups = [g for g in run.choices if covers(g, key)]
        if overrides:
            parts.append(max(overrides, key=lambda o: len(override_key(o))))  # the most specific one
        elif groups:
            group = max(groups, key=len)
            parts.append(f"{group}={run.choices[group]}")
    typed = {override: number for number, override in enumerate(run.overrides)}
    return sorted(dict.fromkeys(parts), key=lambda part: typed.get(part, len(typed)))  # in the order typed


def values_of(run: Run, keys: list[str]) -> list[str]:
    return [f"{k}={json.loads(run.experiment[k]) if k in run.experiment else '(absent)'}" for k in keys]


def labels(groups: list[Group]) -> list[str]:
    """Readable labels: the overrides or choices behind the keys that differ; config values are added only when
    those alone do not tell the groups apart. One group: its overrides that matter, or `defaults`."""
    if len(groups) == 1:
        run = groups[0].runs[0]
        return [" ".join(o for o in run.overrides if not ignored(override_key(o).lstrip("~"))) or "defaults"]
    keys = differing_keys(groups)
    short = [" ".join(asked_for(group.runs[0], keys)) for group in groups]
    if len(set(short)) == len(groups):
        return short
    return [" ".join(dict.fromkeys(asked_for(g.runs[0], keys) + values_of(g.runs[0], keys))) for g in groups]


# ------------------------------------------------------------------------------------------------ statistics

@dataclass
class Estimate:
    """A mean and the half-width of its 95 % Student t interval (None with fewer than two values)."""

    values: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values) / self.n if self.values else None

    @property
    def half_width(self) -> float | None:
        if self.n < 2 or not all(math.isfinite(v) for v in self.values):
            return None
        from scipy.stats import t

        deviation = math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))
        return float(t.ppf(0.975, self.n - 1)) * deviation / math.sqrt(self.n)

    def text(self, expected_n: int) -> str:
        if not self.values:
            return "–"
        count = "" if self.n == expected_n else f" (n={self.n})"
        if self.n == 1:
            return f"{self.mean:.4g} (n=1, no interval)"
        if self.half_width is None:
            return f"{self.mean:.4g} (a value is not finite: no interval){count}"
        return f"{self.mean:.4g} ± {self.half_width:.2g}{count}"


def known_metrics(runs: list[Run]) -> tuple[list[str], set[str]]:
    """Every summary metric and best key of the runs, in the order found, and the best keys among them."""
    best_keys = {((run.summary or {}).get("best") or {}).get("key") for run in runs} - {None}
    found = [k for run in runs for k in (run.summary or {}).get("metrics", {})]
    return list(dict.fromkeys(found + sorted(best_keys))), best_keys


def chosen_metrics(runs: list[Run], asked: list[str]) -> tuple[list[str], set[str]]:
    known, best_keys = known_metrics(runs)
    unknown = [key for key in asked if key not in known]
    if unknown:
        raise UserError(f"metric={','.join(unknown)}: no run's summary.json has such a metric; "
                        f"the runs' metrics are {', '.join(known) or 'none'}. Fix: give one of those (metric=KEY, "
                        "repeatable or comma-separated), or leave metric= out for all of them.")
    return (asked or known), best_keys


def columns(metrics: list[str], best_keys: set[str]) -> list[tuple[str, str]]:
    """(metric, final|best) pairs of the table."""
    return [(key, kind) for key in metrics for kind in ("final", "best") if kind == "final" or key in best_keys]


def estimate(runs: list[Run], key: str, kind: str) -> Estimate:
    values = [run.final(key) if kind == "final" else run.best(key) for run in runs]
    return Estimate([float(v) for v in values if v is not None])


def wall_time(group: Group) -> Estimate:
    return Estimate([float(run.summary["wall_time_s"]) for run in group.completed if "wall_time_s" in run.summary])


def wall_time_text(group: Group) -> str:
    mean = wall_time(group).mean
    return "–" if mean is None else f"{mean:.1f}"


def problems(verdict: str) -> list[str]:
    """The problems a summary's health verdict names ("mode collapse from step 3400; oscillation from step 900"),
    without their steps; [] for "healthy" and "not checked" (health=none)."""
    if verdict in ("healthy", "not checked"):
        return []
    return [part.split(" from step ")[0].strip() for part in verdict.split(";")]


def health_counts(group: Group) -> dict[str, int]:
    """How many of the group's runs (of any outcome) were healthy and how many showed each problem; runs without a
    verdict (failed, or older than the health detectors) are not counted."""
    counts: dict[str, int] = {}
    for run in group.runs:
        verdict = (run.summary or {}).get("health")
        for name in (problems(verdict) or [verdict]) if verdict else []:
            counts[name] = counts.get(name, 0) + 1
    return counts


def health_text(group: Group) -> str:
    counts = health_counts(group)
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "–"


# ------------------------------------------------------------------------------------------------ the tables

def table_markdown(groups: list[Group], metrics: list[str], best_keys: set[str]) -> str:
    pairs = columns(metrics, best_keys)
    header = ["group", "runs", *OUTCOMES, *(f"{key} ({kind})" for key, kind in pairs), "wall time (s)", "health"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for group in groups:
        n = len(group.completed)
        cells = [f"`{group.label}`", str(len(group.runs)), *(str(len(group.with_outcome(o))) for o in OUTCOMES),
                 *(estimate(group.completed, key, kind).text(n) for key, kind in pairs),
                 wall_time_text(group), health_text(group)]
        lines.append("| " + " | ".join(cells) + " |")
    footnote = ("Each metric: mean ± the half-width of its 95 % Student t interval of the mean, over the completed "
                "runs only (a diverged, interrupted or failed run is counted in its column and never averaged in); "
                "(n=K) when only K completed runs have the value; n=1 gives a mean and no interval. final: the "
                "value at the end of the run; best: summary.json's best value of the run's best key. Wall time: "
                "the mean over the completed runs. Health: how many runs (of any outcome) had each verdict, "
                "a run with several problems counted under each.")
    return "\n".join(lines) + "\n\n" + footnote + "\n"


def table_rows(groups: list[Group], metrics: list[str], best_keys: set[str]) -> list[dict[str, Any]]:
    rows = []
    for group in groups:
        row: dict[str, Any] = {"group": group.label, "runs": len(group.runs)}
        row.update({outcome: len(group.with_outcome(outcome)) for outcome in OUTCOMES})
        for key, kind in columns(metrics, best_keys):
            value = estimate(group.completed, key, kind)
            row.update({f"{key} {kind} mean": value.mean, f"{key} {kind} ci95": value.half_width,
                        f"{key} {kind} n": value.n})
        row["wall_time_s mean"] = wall_time(group).mean
        row["health"] = health_text(group)
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])


# ------------------------------------------------------------------------------------------------- the plots

def file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


def curve(runs: list[Run], key: str) -> tuple[list[float], list[float], list[float], list[float]] | None:
    """Images seen, mean, minimum and maximum over the runs, at the steps where every run logged `key`."""
    by_run = [{row["step"]: row for row in run.rows if key in row} for run in runs]
    steps = sorted(set.intersection(*(set(rows) for rows in by_run))) if by_run else []
    if not steps:
        return None
    images = [sum(run.images_seen(rows[s]) for run, rows in zip(runs, by_run)) / len(runs) for s in steps]
    values = [[rows[s][key] for rows in by_run] for s in steps]
    return images, [sum(v) / len(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def plot_key(key: str, groups: list[Group], path: Path) -> bool:
    """One PNG: a line and a min-max band per group with completed runs; False when none logged `key`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [(group.label, curve(group.completed, key)) for group in groups]
    curves = [(label, points) for label, points in curves if points is not None]
    if not curves:
        return False
    below = len(curves) > 4  # a long legend goes under the axes, so it hides no curve
    figure, axis = plt.subplots(figsize=(7, 4.2 + (0.25 * len(curves) if below else 0)), dpi=100)
    for label, (images, mean, low, high) in curves:
        line, = axis.plot(images, mean, label=label, linewidth=1.2, marker="o" if len(images) < 3 else None)
        if len(images) < 3:  # a band needs a width: a few points get min-max bars instead
            spread = [[m - lo for m, lo in zip(mean, low)], [h - m for m, h in zip(mean, high)]]
            axis.errorbar(images, mean, yerr=spread, fmt="none", ecolor=line.get_color(), capsize=4)
        else:
            axis.fill_between(images, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axis.set(xlabel="images seen", ylabel=key, title=f"{key}: mean over completed seeds, band min–max")
    axis.grid(alpha=0.3)
    if below:
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    else:
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True


def statistics_keys(groups: list[Group], all_metrics: list[str]) -> list[str]:
    """The training statistics of metrics.jsonl (losses, penalties, D's outputs): every column but the metrics."""
    keys = dict.fromkeys(k for group in groups for run in group.completed for row in run.rows for k in row)
    # Per-layer values (sigma/G/<layer>) would make a plot per layer: their network's largest (sigma/G) is drawn.
    return sorted(k for k in keys if k not in ROW_BOOKKEEPING and k not in all_metrics and k.count("/") < 2)


def write_plots(out: Path, groups: list[Group], keys: list[str]) -> list[str]:
    return [key for key in keys if plot_key(key, groups, out / "plots" / f"{file_name(key)}.png")]


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
            run = picture.parent.parent
            seed = Run(run).config.get("seed")
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
        lines += ["## Failed runs", "", *(f"- `{run.directory}`: {run.failure}" for run in failed), ""]
    unhealthy = [run for group in groups for run in group.runs
                 if problems((run.summary or {}).get("health", "healthy"))]
    if unhealthy:
        lines += ["## Health problems", "", *(f"- `{run.directory}`: {run.summary['health']}" for run in unhealthy), ""]
    lines += ["## Curves", "", ("Each line: the mean over a group's completed runs at the steps all of them logged "
                                "(no interpolation); the band: their minimum to maximum. x: real images D saw."), ""]
    lines += [f"![{key}](plots/{file_name(key)}.png)" for key in plotted] + [""]
    if shown:
        lines += ["## Samples", "", "The latest sample picture of one run per group.", "", *samples_markdown(shown)]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------- command line

def parse_args(argv: list[str]) -> tuple[list[Path], list[str], Path | None]:
    """Folders, metrics and out=. A sweep job's folder has `=` in its name (objective=hinge,seed=0), so an
    argument is an option only when its key is metric or out, or when no such path exists."""
    folders, metrics, out = [], [], None
    for arg in argv:
        key, equals, value = arg.partition("=")
        if not equals or (key not in ("metric", "out") and Path(arg).exists()):
            folders.append(Path(arg))
        elif key == "metric":
            metrics += [name for name in value.split(",") if name]
        elif key == "out":
            out = Path(value)
        else:
            raise UserError(f"Unknown argument {arg!r}: gan-report takes folders, metric=KEY and out=DIR. "
                            f"Fix: {USAGE}")
    if not folders:
        raise UserError(f"No folder given. Fix: name a sweep directory or run directories: {USAGE}")
    return folders, metrics, out


def report(argv: list[str]) -> Path:
    """Reads the runs, writes the report; returns its folder."""
    folders, asked, out = parse_args(argv)
    runs = find_runs(folders)
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


def write_section(page: Path, name: str, text: str) -> None:
    """Put `text` between the markers `<!-- NAME: begin -->` and `<!-- NAME: end -->` of a Markdown page,
    keeping everything outside them: how the scripts that make docs/ pages rewrite their part of a page. A page
    without the markers (or no page) gets the section at its end."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    old = page.read_text() if page.exists() else ""
    if begin in old and end in old.split(begin, 1)[1]:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + block + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(new)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__)
        return
    try:
        out = report(argv)
    except UserError as error:
        print(f"gan-report: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"gan-report: wrote {os.path.join(out, 'report.md')}")


if __name__ == "__main__":
    main()
