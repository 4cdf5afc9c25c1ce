"""Comparing the runs of a study, the engine of gan-report (and of the scripts that write docs/ pages): runs grouped
by their configuration without the seed (run_directory.experiment), each group labelled by what tells it apart,
each metric's mean and 95 % Student t interval over a group's completed runs, health verdicts, and curves of a
group's runs with a band over its seeds.

The interval is Student's t: mean ± t(0.975, n - 1) s / sqrt(n), s the sample standard deviation; one run, or a
value that is not finite (an infinite reverse KL), gives a mean and no interval. A diverged or interrupted run is
counted in its column and never averaged in. Curves: a group's line is the mean over its completed runs at the
steps that all of them logged (no interpolation), and its band spans their minimum to maximum (with a few seeds, a
t interval would mostly show t's width).
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_runner.errors import UserError
from gan_runner.run_directory import ROW_BOOKKEEPING, RunDirectory, experiment, part_of_the_experiment

OUTCOMES = ("completed", "diverged", "interrupted", "failed")


def outcome(run: RunDirectory) -> str:
    return run.outcome


def choice(run: RunDirectory, group: str) -> str:
    """The option of a config group the run was made with (its study record), e.g. objective -> hinge."""
    chosen = ((run.summary or {}).get("study") or {}).get("choices", {}).get(group)
    return "none" if chosen in (None, [], ["none"]) else (",".join(chosen) if isinstance(chosen, list) else chosen)


def failure(run: RunDirectory) -> str:
    if run.summary is None:
        return "no summary.json (the job crashed; see its gan-run.log)"
    return run.summary.get("error") or f"status {run.summary.get('status')!r}"


def final(run: RunDirectory, key: str) -> float | None:
    return (run.summary or {}).get("metrics", {}).get(key)


def best(run: RunDirectory, key: str) -> float | None:
    best_value = (run.summary or {}).get("best") or {}
    return best_value.get("value") if best_value.get("key") == key else None


@dataclass
class Group:
    runs: list[RunDirectory]
    label: str = ""

    def with_outcome(self, wanted: str) -> list[RunDirectory]:
        return [run for run in self.runs if outcome(run) == wanted]

    @property
    def completed(self) -> list[RunDirectory]:
        return self.with_outcome("completed")


def group_runs(runs: list[RunDirectory]) -> list[Group]:
    """Runs with equal experiment configs, in the order their first run was found, labelled."""
    by_config: dict[tuple, Group] = {}
    for run in runs:
        by_config.setdefault(tuple(sorted(experiment(run.config).items())), Group([])).runs.append(run)
    groups = list(by_config.values())
    for group, label in zip(groups, labels(groups)):
        group.label = label
    return groups


def differing_keys(groups: list[Group]) -> list[str]:
    first = [experiment(group.runs[0].config) for group in groups]
    keys = dict.fromkeys(k for config in first for k in config)
    return [k for k in keys if len({config.get(k) for config in first}) > 1]


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+")


def covers(name: str, key: str) -> bool:
    return key == name or key.startswith(name + ".")


def asked_for(run: RunDirectory, keys: list[str]) -> list[str]:
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


def config_values(run: RunDirectory, keys: list[str]) -> list[str]:
    values = experiment(run.config)
    return [f"{k}={json.loads(values[k]) if k in values else '(absent)'}" for k in keys]


def labels(groups: list[Group]) -> list[str]:
    """Readable labels: the overrides or choices behind the keys that differ; config values are added only when
    those alone do not tell the groups apart. One group: its overrides that matter, or `defaults`."""
    if len(groups) == 1:
        run = groups[0].runs[0]
        return [" ".join(o for o in run.overrides if part_of_the_experiment(override_key(o).lstrip("~"))) or "defaults"]
    keys = differing_keys(groups)
    short = [" ".join(asked_for(group.runs[0], keys)) for group in groups]
    if len(set(short)) == len(groups):
        return short
    return [" ".join(dict.fromkeys(asked_for(g.runs[0], keys) + config_values(g.runs[0], keys))) for g in groups]


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


def known_metrics(runs: list[RunDirectory]) -> tuple[list[str], set[str]]:
    """Every summary metric and best key of the runs, in the order found, and the best keys among them."""
    best_keys = {((run.summary or {}).get("best") or {}).get("key") for run in runs} - {None}
    found = [k for run in runs for k in (run.summary or {}).get("metrics", {})]
    return list(dict.fromkeys(found + sorted(best_keys))), best_keys


def chosen_metrics(runs: list[RunDirectory], asked: list[str]) -> tuple[list[str], set[str]]:
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


def estimate(runs: list[RunDirectory], key: str, kind: str) -> Estimate:
    values = [final(run, key) if kind == "final" else best(run, key) for run in runs]
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


def curve(runs: list[RunDirectory], key: str) -> tuple[list[float], list[float], list[float], list[float]] | None:
    """Images seen, mean, minimum and maximum over the runs, at the steps where every run logged `key`."""
    by_run = [{row["step"]: row for row in run.rows if key in row} for run in runs]
    steps = sorted(set.intersection(*(set(rows) for rows in by_run))) if by_run else []
    if not steps:
        return None
    images = [sum(rows[s]["images_seen"] for rows in by_run) / len(runs) for s in steps]
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


