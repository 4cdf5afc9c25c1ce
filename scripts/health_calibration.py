"""The runs behind the health detectors' defaults (conf/health/default.yaml): healthy ones that must stay silent and
runs made to fail one way each, with what fired and the extremes of the numbers the detectors read.

    python scripts/health_calibration.py [--runs outputs/health_calibration] [--doc docs/health.md] [--only NAME ...]

Trains each run on the CPU with one thread, one after another (about 25 minutes in all; a run whose folder already
holds a summary.json is read, not trained again), and writes the table into docs/health.md between its
`health_calibration` markers. Each row: the gan-run command, the verdict, and from metrics.jsonl the lowest
sample diversity after the mode-collapse detector's warm-up, the highest accuracy D reached on both sides at once,
the largest sigma/G and sigma/D over their values as built, and the largest swing and drift of a loss over its usual
movement (the oscillation and loss_runaway detectors' ratios: what cancels out and what adds up of a loss's
row-to-row changes over their window, over the median of its earlier mean |change| a row; a swing counted where it
passes the oscillation floor, a drift where it passes the runaway floor and is at least `one_way` of the window's
movement; each, as the detectors take it, the lesser of the window as it is and the window with its two largest
changes cut down to the third largest, so that a single spike or jump does not count).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan_runner.engine.build import networks, seed_everything
from gan_runner.health import movement, movement_beyond_one_event
from gan_runner.health.diagnostics import spectral_norms
from gan_runner.engine.loop import train

from doc_pages import write_section  # scripts/, beside this one

CONSTANT = "train.lr_end_factor=1.0"  # runs cut short keep their learning rates
RUNS = {  # name: (healthy or the failure it is made for, overrides)
    "ring8_seed0": ("healthy", ["dataset=ring8"]),
    "ring8_seed1": ("healthy", ["dataset=ring8", "seed=1"]),
    "ring8_seed2": ("healthy", ["dataset=ring8", "seed=2"]),
    "digits_seed0": ("healthy", []),
    "digits_seed1": ("healthy", ["seed=1"]),
    "cgan_digits": ("healthy", ["experiment=cgan_digits"]),
    "frozen_g_minimax": ("discriminator wins", ["dataset=ring8", "objective=minimax", "regulariser=none",
                                                "train.lr_g=1e-8", "train.steps=1500", CONSTANT]),
    "frozen_g_nonsaturating": ("discriminator wins", ["dataset=ring8", "regulariser=none", "train.lr_g=1e-8",
                                                      "train.steps=1500", CONSTANT]),
    "ring8_no_penalty_seed1": ("mode collapse", ["dataset=ring8", "regulariser=none", "seed=1", "metrics.every=250"]),
    "ring8_lsgan_no_penalty": ("mode collapse", ["dataset=ring8", "objective=lsgan", "regulariser=none",
                                                 "metrics.every=250"]),
    "ring8_wgan_no_constraint": ("loss runaway", ["dataset=ring8", "objective=wgan", "regulariser=none",
                                                  "train.steps=1500", CONSTANT]),
    "ring8_wgan_no_constraint_half_lr": ("oscillation", ["dataset=ring8", "objective=wgan", "regulariser=none",
                                                         "train.lr_g=5e-4", "train.lr_d=1e-3", "train.steps=2000",
                                                         CONSTANT]),
    "ring8_lr_x10": ("spectral blow-up", ["dataset=ring8", "train.lr_g=2e-2", "train.lr_d=2e-2", "train.steps=1500",
                                          CONSTANT]),
    "digits_lr_x50": ("spectral blow-up", ["train.lr_g=1e-2", "train.lr_d=1e-2", "train.steps=3000"]),
    "ring8_lr_x50": ("spectral blow-up", ["dataset=ring8", "train.lr_g=0.1", "train.lr_d=0.1", "train.steps=1500",
                                          CONSTANT]),
}
COMMON = ["logger=none", "train.device=cpu"]


def config(overrides: list[str]):
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        return compose(config_name="config", overrides=[*overrides, *COMMON])


def as_built(cfg) -> dict[str, float]:
    """sigma/G and sigma/D of the networks as the run built them (its seed), before any step."""
    seed_everything(cfg.seed)
    dataset = instantiate(cfg.dataset)
    G, D, _ = networks(cfg, dataset.shape, dataset.num_classes if cfg.get("conditional") else None)
    G.eval(), D.eval()
    values = spectral_norms({"G": G, "D": D})
    return {key: values[key] for key in ("sigma/G", "sigma/D")}


def extremes(folder: Path, cfg) -> dict[str, str]:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    training = [row for row in rows if "loss/d" in row]
    health = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "health" / "default.yaml").detectors
    warmup = health.mode_collapse.warmup
    diversity = [row["health/diversity"] for row in training[warmup:]]
    accuracy = [min(row["d/accuracy_real"], row["d/accuracy_fake"]) for row in training if "d/accuracy_real" in row]
    initial = as_built(cfg)
    growth = {key: max(row[key] for row in training) / initial[key] for key in initial}
    swing, drift = loss_ratios(training, health.oscillation, health.loss_runaway)
    return {"diversity": f"{min(diversity):.2f}" if diversity else "–",
            "accuracy": f"{max(accuracy):.2f}" if accuracy else "– (critic)",
            "sigma": f"{growth['sigma/G']:.1f}x / {growth['sigma/D']:.1f}x",
            "swing": f"{swing:.1f}x" if swing else "–", "drift": f"{drift:.1f}x" if drift else "–"}


def loss_ratios(training: list[dict], oscillation, runaway) -> tuple[float, float]:
    """The largest swing and the largest drift of either loss over its usual movement, measured as the oscillation
    and loss_runaway detectors measure them (each with its own window), where each would count."""
    largest = {"swing": 0.0, "drift": 0.0}
    for key in ("loss/d", "loss/g"):
        values = [row[key] for row in training]
        for kind, settings in (("swing", oscillation), ("drift", runaway)):
            window, movements = settings.window, []
            for end in range(window, len(values)):
                rows = values[end - window:end + 1]
                whole = movement(rows)[0]
                parts, counts = [], True  # the window as it is, and without a single event (both must count)
                for size, signed in (movement(rows), movement_beyond_one_event(rows)):
                    part = size - abs(signed) if kind == "swing" else abs(signed)
                    counts &= part >= settings.floor and (kind == "swing" or part >= settings.one_way * size)
                    parts.append(part)
                if movements and counts:
                    largest[kind] = max(largest[kind], min(parts) / max(statistics.median(movements), 1e-12))
                movements.append(whole)
    return largest["swing"], largest["drift"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("outputs/health_calibration"))
    parser.add_argument("--doc", type=Path, default=Path("docs/health.md"))
    parser.add_argument("--only", nargs="*", help="train only these runs (the table is written once all exist)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = ["| run | made to be | `gan-run` overrides (and `logger=none`) | verdict | lowest diversity | highest "
             "accuracy | largest sigma G / D over as built | largest swing / drift over usual movement |",
             "|---" * 8 + "|"]
    for name, (expected, overrides) in RUNS.items():
        folder = args.runs / name
        cfg = config(overrides)
        if not (folder / "summary.json").is_file() and (not args.only or name in args.only):
            train(cfg, folder)
        if not (folder / "summary.json").is_file():
            continue
        verdict = json.loads((folder / "summary.json").read_text())["health"]
        numbers = extremes(folder, cfg)
        lines.append(f"| {name} | {expected} | `{' '.join(overrides) or '(defaults)'}` | {verdict} | "
                     f"{numbers['diversity']} | {numbers['accuracy']} | {numbers['sigma']} | {numbers['swing']} / "
                     f"{numbers['drift']} |")
        print(lines[-1], flush=True)
    if len(lines) == len(RUNS) + 2:
        write_section(args.doc, "health_calibration", "Made by `python scripts/health_calibration.py`:\n\n"
                      + "\n".join(lines))
        print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
