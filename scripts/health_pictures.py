"""The pictures of README's "Is my GAN healthy?" and docs/health.md: real runs' health numbers over the steps,
each detector's firing marked.

    python scripts/health_pictures.py [--runs outputs/health_pictures] [--out docs/health] [--doc docs/health.md]

Trains three ring8 runs on the CPU (a few minutes, one after another; a run whose folder already holds a
summary.json is read, not trained again): the defaults (healthy), the non-saturating loss without a penalty on
seed 1 (collapses onto one mode) and WGAN without a Lipschitz constraint (its samples bunch up, G's loss climbs
ever faster, and later its critic's loss also swings wider and wider). Writes docs/health/ring8_health.png (a column
per run: sample diversity and modes found, D's accuracies, gradient norms, largest singular values, losses) and the
runs' verdicts into docs/health.md between its `health_pictures` markers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

from gan_runner.engine.loop import train

from doc_pages import write_section  # scripts/, beside this one

RUNS = {  # name: (title, overrides)
    "healthy": ("ring8 defaults", ["dataset=ring8", "metrics.every=250"]),
    "collapse": ("non-saturating, no penalty, seed 1", ["dataset=ring8", "regulariser=none", "seed=1",
                                                         "metrics.every=250"]),
    "wgan": ("WGAN, no Lipschitz constraint", ["dataset=ring8", "objective=wgan", "regulariser=none",
                                                "train.steps=2000", "train.lr_end_factor=1.0", "metrics.every=250"]),
}
COMMON = ["logger=none", "train.device=cpu"]
PANELS = [  # (title, keys, log scale)
    ("sample diversity (1: the data's)", ["health/diversity"], False),
    ("D's accuracy", ["d/accuracy_real", "d/accuracy_fake"], False),
    ("gradient norm", ["grad_norm/g", "grad_norm/d"], True),
    ("largest singular value", ["sigma/G", "sigma/D"], True),
    ("loss", ["loss/d", "loss/g"], False),
]


def run(name: str, overrides: list[str], runs: Path) -> Path:
    folder = runs / name
    if not (folder / "summary.json").is_file():
        with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
            cfg = compose(config_name="config", overrides=[*overrides, *COMMON])
        train(cfg, folder)
    return folder


def events(folder: Path) -> list[tuple[str, int, int]]:
    """(what, the step it began, the step it fired) of each detector that fired (summary.json's health_events)."""
    summary = json.loads((folder / "summary.json").read_text())
    return [(event["what"], event["since"], event["step"]) for event in summary["health_events"]]


def plot(folders: dict[str, Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    figure, axes = plt.subplots(len(PANELS), len(folders), figsize=(3.3 * len(folders), 1.55 * len(PANELS)), dpi=80,
                                sharex="col", squeeze=False)
    for column, (name, folder) in enumerate(folders.items()):
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        training = [row for row in rows if "loss/d" in row]
        for row_number, (title, keys, log_scale) in enumerate(PANELS):
            axis = axes[row_number][column]
            for key in keys:
                points = [(row["step"], row[key]) for row in training if key in row]
                if points:
                    axis.plot(*zip(*points), linewidth=1, label=key.split("/", 1)[1] if len(keys) > 1 else None)
            if row_number == 0:  # modes found, where the metric was evaluated
                modes = [(row["step"], row["toy/modes"] / 8) for row in rows if "toy/modes" in row]
                axis.plot(*zip(*modes), "k.", markersize=4, label="modes found / 8")
                axis.set_ylim(-0.05, max(1.5, min(3.0, max(v for _, v in points) * 1.1)))
            if log_scale:
                axis.set_yscale("log")
                axis.yaxis.set_minor_formatter(NullFormatter())  # decades only: no crowded labels
            if not any(key in row for row in training for key in keys):
                axis.text(0.5, 0.5, "none: a critic has no decision threshold", transform=axis.transAxes,
                          ha="center", fontsize=6)
            for number, (what, started, at) in enumerate(events(folder)):
                axis.axvline(started, color="red", linewidth=1)
                if row_number == 0:  # each label a step lower than the one before, so that close ones do not overlap
                    axis.text(started, 1 - 0.25 * number, f" {what}\n (fired at {at})", color="red", fontsize=6,
                              va="top", transform=axis.get_xaxis_transform())
            axis.tick_params(labelsize=6)
            axis.set_title(f"{RUNS[name][0]}\n{title}" if row_number == 0 else title, fontsize=7)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=5, loc="best")
        axes[-1][column].set_xlabel("step", fontsize=7)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)


def section(folders: dict[str, Path]) -> str:
    lines = ["| run | command | verdict (summary.json) | modes at the end |", "|---|---|---|---|"]
    for name, folder in folders.items():
        summary = json.loads((folder / "summary.json").read_text())
        command = "gan-run " + " ".join(o for o in RUNS[name][1] if not o.startswith("metrics.every"))
        modes = summary["metrics"].get("toy/modes")
        lines.append(f"| {RUNS[name][0]} | `{command}` | {summary['health']} | {modes:g} |")
    return ("Made by `python scripts/health_pictures.py` (each run also with `metrics.every=250`, so that the modes "
            "are counted as it trains):\n\n" + "\n".join(lines) + "\n\n![health numbers of three ring8 runs]"
            "(health/ring8_health.png)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("outputs/health_pictures"))
    parser.add_argument("--out", type=Path, default=Path("docs/health"))
    parser.add_argument("--doc", type=Path, default=Path("docs/health.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    folders = {name: run(name, overrides, args.runs) for name, (_, overrides) in RUNS.items()}
    plot(folders, args.out / "ring8_health.png")
    write_section(args.doc, "health_pictures", section(folders))
    print(f"wrote {args.out / 'ring8_health.png'} and {args.doc}")


if __name__ == "__main__":
    main()
