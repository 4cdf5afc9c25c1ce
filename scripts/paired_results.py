"""Writes docs/results/mnist_edges.md and docs/results/mnist_sr.md: the two embedded paired tasks trained with their
datasets' own defaults (`gan-run dataset=TASK`, nothing else), one run per reported seed, run after run (the wall
times are those of one run alone on the machine), with the held-out metrics of each seed, their mean, the wall time
and each seed's last source | output | target picture. The defaults were tuned on seed 0 (docs/games.md); the page
reports other seeds.

    python scripts/paired_results.py                  # both tasks, seeds 1 and 2 (about 15 minutes on 2 cores)
    python scripts/paired_results.py --tasks mnist_sr --seeds 1 2 3

Runs are kept under outputs/paired_results/ and not run again when their summary.json exists (delete to rerun).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "outputs" / "paired_results"
KEYS = [("paired/class_agreement", "class agreement", "{:.3f}"), ("paired/ssim", "SSIM", "{:.3f}"),
        ("paired/psnr", "PSNR (dB)", "{:.2f}"), ("paired/l1", "L1", "{:.4f}"), ("paired/frechet", "judge Fréchet", "{:.2f}")]
ABOUT = {
    "mnist_edges": ("binary Sobel edges of a real MNIST digit -> the digit (pix2pix: U-Net G, PatchGAN D judging the "
                    "pair, L1 weight 100, D's loss halved)"),
    "mnist_sr": ("x4 super-resolution of real MNIST digits, the 7x7 area average -> the 28x28 digit (SRGAN-MSE: "
                 "SRResNet G pretrained on MSE, then MSE + 1e-3 x the adversarial loss against a D of the image "
                 "alone)"),
}


def run(task: str, seed: int) -> Path:
    folder = RUNS / task / f"seed{seed}"
    if not (folder / "summary.json").is_file():
        if folder.exists():
            shutil.rmtree(folder)
        command = ["gan-run", f"dataset={task}", f"seed={seed}", "logger=none", f"hydra.run.dir={folder}"]
        print(" ".join(command), file=sys.stderr)
        subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    return folder


def page(task: str, seeds: list[int], folders: list[Path]) -> str:
    summaries = [json.loads((folder / "summary.json").read_text()) for folder in folders]
    pictures = REPO / "docs" / "results" / "paired"
    pictures.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed, folder, summary in zip(seeds, folders, summaries):
        last = sorted((folder / "samples").glob("step_*.png"))[-1]
        shutil.copy(last, pictures / f"{task}_seed{seed}.png")
        rows.append(f"| {seed} | " + " | ".join(fmt.format(summary["metrics"][key]) for key, _, fmt in KEYS) +
                    f" | {summary['wall_time_s'] / 60:.1f} | {summary.get('health', '?')} |")
    means = " | ".join(fmt.format(statistics.mean(s["metrics"][key] for s in summaries)) for key, _, fmt in KEYS)
    rows.append(f"| mean | {means} | {statistics.mean(s['wall_time_s'] for s in summaries) / 60:.1f} | |")
    if task == "mnist_sr":  # what interpolation alone gives: the floor a learned x4 must clear
        baseline = bicubic_baseline(folders[0])
        rows.append("| bicubic x4 (no training) | " + " | ".join(fmt.format(baseline[key]) for key, _, fmt in KEYS) +
                    " | | |")
    config = json.loads((folders[0] / "summary.json").read_text())
    train = yaml.safe_load((folders[0] / ".hydra" / "config.yaml").read_text())["train"]
    budget = f"{train['steps']:,} steps at batch {train['batch_size']}"
    header = " | ".join(label for _, label, _ in KEYS)
    return f"""# Results: `dataset={task}`

{ABOUT[task]}. Each row is one run of `gan-run dataset={task} seed=S`, the dataset's own defaults ({budget};
conf/dataset/{task}.yaml), on the 500 held-out pairs (the last 50 digits of each class, never trained on).
The defaults were tuned on seed 0; these are seeds {', '.join(map(str, seeds))}.
Written by `python scripts/paired_results.py` on {platform.processor() or platform.machine()}, {os.cpu_count()} cores,
torch's threads as train.threads=auto chose them, one run at a time ({config['device']}).

| seed | {header} | minutes | health |
| --- | {' | '.join('---' for _ in KEYS)} | --- | --- |
{chr(10).join(rows)}

{"The bicubic row upsamples the sources without any training: the floor a learned x4 must clear." + chr(10) if task == "mnist_sr" else ""}
Class agreement: the fraction of outputs that the digit judge (metrics=mnist_5k's classifier, 0.954 on the real
held-out digits) labels as the source's own digit; its ceiling is the judge's accuracy on real digits. Judge
Fréchet: outputs against targets in the judge's feature layer (0: the same distribution). SSIM and PSNR compare each
output with its own target (pytorch-msssim, checked against scikit-image), on images mapped to [0, 1].

Health: the detectors' verdict on each run (docs/health.md). "discriminator wins" means D told real and translated
images apart for five log rows running; in these games G's reconstruction term keeps training G meanwhile, so the
outputs can go on improving while the detector reports it.

What it does not show: a per-pixel metric rewards the blurry mean of plausible targets, which the adversarial loss is
there to avoid; class agreement and the judge's Fréchet distance read the outputs as digits instead. Two seeds say
how much a run varies, not a confidence interval. pix2pix's outputs vary with its dropout (the pictures and metrics
use a fixed dropout seed).

Source | output | target, eight held-out digits, at the last step of seed {seeds[0]}:

![{task} seed {seeds[0]}](paired/{task}_seed{seeds[0]}.png)
"""


def bicubic_baseline(folder: Path) -> dict[str, float]:
    """The run's metric (its config's) of the held-out sources upsampled bicubically to the targets' size."""
    import torch
    import torch.nn.functional as F
    from omegaconf import OmegaConf

    from gan_runner.engine.build import build

    cfg = OmegaConf.load(folder / ".hydra" / "config.yaml")
    dataset, metric = build(cfg, "dataset"), build(cfg, "metrics")
    sources, targets, _ = dataset.held_out()

    def sample(n: int, rows: tuple[int, int] | None = None):
        first, stop = rows or (0, n)
        yield F.interpolate(sources[first:stop], size=targets.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)

    with torch.no_grad():
        return metric(sample, dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["mnist_edges", "mnist_sr"], choices=sorted(ABOUT))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    for task in args.tasks:
        folders = [run(task, seed) for seed in args.seeds]
        (REPO / "docs" / "results" / f"{task}.md").write_text(page(task, args.seeds, folders))
        print(f"wrote docs/results/{task}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
