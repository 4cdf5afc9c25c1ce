"""Writes docs/results/mnist_5k_archs.md: DCGAN, StyleGAN2 and progressive growing (ProGAN) on dataset=mnist_5k's
4,500 real training digits at 32x32, each with its architecture's small CPU widths (conf/arch/*.yaml defaults) and
its own paper's training recipe at small scale (RECIPES below), on the same budget of images shown to D; the digit
judge's Fréchet distance and class coverage on the 500 held-out digits for each seed, sample grids, and a
style-mixing figure of the StyleGAN2 run.

    python scripts/arch_results.py                        # 128k images, seeds 1 and 2: about 70 minutes on 2 cores
    python scripts/arch_results.py --seeds 1 2 3 --kimg 64
    python scripts/arch_results.py --archs stylegan2 --seeds 0   # one architecture (tuning: seed 0 only)

Runs are kept under outputs/arch_results/ and not run again when their summary.json exists (delete to rerun). Run it
with nothing else on the machine: the page states the minutes each run took.
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

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "outputs" / "arch_results"
PICTURES = REPO / "docs" / "results" / "mnist_5k_archs"
AUGMENTATION = "augmentation.md"  # docs/augmentation.md, linked from the page in docs/results/

# Each family's own recipe, shrunk only where a 2-core CPU forces it (widths: the arch YAML's defaults), with the
# batch size that sets its number of steps for the budget. Where a value comes from is said beside it.
RECIPES: dict[str, dict] = {
    "dcgan": {
        # experiment=dcgan, pytorch/examples' DCGAN (its widths 64, z 100, Adam 2e-4 (0.5, 0.999), batch 64, real and
        # fake in passes of their own, no EMA) at the dataset's 32x32 instead of its 64x64
        "batch": 64,
        "overrides": ["experiment=dcgan", "dataset.resolution=32"],
        "about": "DCGAN (Radford et al. 2016) as experiment=dcgan (pytorch/examples' dcgan/main.py) sets it, at 32x32: "
                 "non-saturating loss, batch-normalised D shown real and fake in passes of their own, Adam 2e-4 betas "
                 "(0.5, 0.999), batch 64, z of 100, no moving average",
    },
    "stylegan2": {
        # stylegan2-ada-pytorch train.py's 'auto' configuration at 32x32 on one GPU (l.157-166): mb 32, map 2,
        # lrate 0.0025, gamma 0.0002 x 32^2 / 32 = 0.0064, ema 32 x 10 / 32 = 10 kimg, ramp 0.05; path length 2
        # every 4 and style mixing 0.9 (its defaults); channels: conf/arch/stylegan2.yaml's small CPU widths
        "batch": 32,
        "overrides": ["arch=stylegan2", "regulariser=[r1_lazy,path_length]", "arch.generator.mapping_layers=2",
                      "regulariser.r1_lazy.weight=0.0032", "train.lr_g=0.0025", "train.lr_d=0.0025",
                      "train.betas=[0.0,0.99]", "train.ema_kimg=10", "train.ema_rampup=0.05"],
        "about": "StyleGAN2 (Karras et al. 2020) as stylegan2-ada-pytorch's 'auto' configuration sets it for 32x32: "
                 "mapping of 2 layers, lazy R1 (gamma 0.0064, every 16) and path length (2, every 4) with their own "
                 "optimiser steps, style mixing 0.9, Adam 0.0025 betas (0, 0.99), batch 32, EMA half-life 10k images",
    },
    "progan": {
        # experiment=progan's recipe (tkarras/progressive_growing_of_gans: WGAN-GP lambda 10 with drift 0.001, Adam
        # 1e-3 betas (0, 0.99), EMA 0.999) with conf/arch/progan.yaml's small widths and a short schedule: 16k images
        # per fade-in and per stable phase (4x4 to 32x32 in 96k images), batch 64 at every resolution; the EMA keeps
        # the runner's ramp-up (train.ema_rampup 0.05), as a fixed 0.999 lags a run of a few thousand steps
        "batch": 64,
        "overrides": ["game=progressive", "arch=progan", "objective=wgan", "objective.drift=0.001", "regulariser=gp",
                      "train.lr_g=1e-3", "train.lr_d=1e-3", "train.betas=[0.0,0.99]", "game.stable_images=16000",
                      "game.fade_images=16000"],
        "about": "progressive growing (Karras et al. 2018) with experiment=progan's recipe: WGAN-GP (lambda 10) with "
                 "drift 0.001, Adam 1e-3 betas (0, 0.99), EMA 0.999 (with the runner's ramp-up); grown 4x4 to 32x32 "
                 "over 96k images (16k per fade-in and per stable phase), batch 64",
    },
}


def steps_for(arch: str, kimg: float) -> int:
    return int(round(kimg * 1000 / RECIPES[arch]["batch"]))


def run(arch: str, seed: int, kimg: float) -> Path:
    folder = RUNS / arch / f"seed{seed}"
    if not (folder / "summary.json").is_file():
        if folder.exists():
            shutil.rmtree(folder)
        command = ["gan-run", "dataset=mnist_5k", *RECIPES[arch]["overrides"], f"train.steps={steps_for(arch, kimg)}",
                   f"seed={seed}", "logger=none", "train.sample_every=1000000", f"hydra.run.dir={folder}"]
        print(" ".join(command), file=sys.stderr)
        subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    return folder


def style_mixing_figure(folder: Path, path: Path, seed: int = 0) -> None:
    """StyleGAN's figure 3 at 32x32: the top row's images give their coarse styles (the first three ws: the 4x4
    block's convolution and the 8x8 block's two), the left column's the rest; each cell is one synthesis from the
    crossed ws, G_ema in eval mode, noise held constant, the top-left corner blank."""
    import torch

    from gan_runner.commands.sample import load_run
    from gan_runner.pictures import image_grid, save_png

    G, _ = load_run(folder)
    G.synthesis.noise_mode = "const"
    generator = torch.Generator().manual_seed(seed)
    top, left = (torch.randn(n, G.z_dim, generator=generator) for n in (6, 4))
    coarse = 3
    with torch.no_grad():
        ws_top, ws_left = G.styles(top), G.styles(left)
        top_images = G.synthesis(ws_top).clamp(-1, 1)
        rows = [torch.cat([torch.ones_like(top_images[:1]), top_images])]
        for ws in ws_left:
            mixed = ws.expand_as(ws_top).clone()
            mixed[:, :coarse] = ws_top[:, :coarse]
            rows.append(torch.cat([G.synthesis(ws[None]).clamp(-1, 1), G.synthesis(mixed).clamp(-1, 1)]))
    save_png(image_grid(torch.cat(rows), rows=len(top) + 1), path)  # images a row


def page(archs: list[str], seeds: list[int], kimg: float, folders: dict[str, list[Path]]) -> str:
    PICTURES.mkdir(parents=True, exist_ok=True)
    rows, about = [], []
    for arch in archs:
        summaries = [json.loads((folder / "summary.json").read_text()) for folder in folders[arch]]
        for seed, folder, summary in zip(seeds, folders[arch], summaries):
            metrics, params = summary["metrics"], summary.get("params", {})
            rows.append(f"| {arch} | {seed} | {metrics['digits/frechet']:.3f} | {metrics['digits/classes']:.0f} | "
                        f"{metrics['digits/confidence_ratio']:.3f} | {summary['step']:,} | "
                        f"{summary['wall_time_s'] / 60:.1f} | {params.get('generator', 0) / 1e3:.0f}k / "
                        f"{params.get('discriminator', 0) / 1e3:.0f}k | {summary.get('health', '?')} |")
            last = sorted((folder / "samples").glob("step_*.png"))[-1]
            shutil.copy(last, PICTURES / f"{arch}_seed{seed}.png")
        mean = statistics.mean(s["metrics"]["digits/frechet"] for s in summaries)
        rows.append(f"| {arch} | mean | {mean:.3f} | | | | {statistics.mean(s['wall_time_s'] for s in summaries) / 60:.1f}"
                    " | | |")
        about.append(f"- **{arch}**: {RECIPES[arch]['about']}. `gan-run dataset=mnist_5k "
                     f"{' '.join(RECIPES[arch]['overrides'])} train.steps={steps_for(arch, kimg)}`")
    figures = "\n\n".join(f"{arch}, seed {seeds[0]}, last step:\n\n![{arch}](mnist_5k_archs/{arch}_seed{seeds[0]}.png)"
                          for arch in archs)
    mixing = ""
    if "stylegan2" in archs:
        style_mixing_figure(folders["stylegan2"][0], PICTURES / "style_mixing.png")
        mixing = (f"Style mixing (seed {seeds[0]}'s G_ema): the top row gives the coarse styles (the 4x4 and 8x8 "
                  "convolutions'), the left column the finer ones; each cell is one image from the crossed styles.\n\n"
                  "![style mixing](mnist_5k_archs/style_mixing.png)\n")
    real = json.loads((folders[archs[0]][0] / "summary.json").read_text())["metrics"]["digits/frechet_real"]
    flagged = [f"{arch} seed {seed} ({summary['health']})" for arch in archs for seed, summary in
               zip(seeds, (json.loads((folder / 'summary.json').read_text()) for folder in folders[arch]))
               if summary.get("health", "healthy") != "healthy"]
    verdicts = (f"The health detectors flagged {', '.join(flagged)}: the pictures show fewer kinds of digit. "
                if flagged else "The health detectors flagged no run. ")
    return f"""# Results: DCGAN, StyleGAN2 and progressive growing on `dataset=mnist_5k`

The three families on the 4,500 real MNIST training digits at 32x32, each on the same budget of {kimg:g}k images
shown to D, with its architecture's small CPU widths (the defaults of conf/arch/dcgan.yaml, stylegan2.yaml,
progan.yaml) and its own paper's training recipe:

{chr(10).join(about)}

Written by `python scripts/arch_results.py --kimg {kimg:g} --seeds {' '.join(map(str, seeds))}` on
{platform.processor() or platform.machine()} with {os.cpu_count()} cores, one run at a time, seeds
{', '.join(map(str, seeds))}. Nothing was tuned: each recipe is its paper's code's, as said above, at the
architecture's small widths, and ProGAN's schedule was shortened once to fit the budget, before any run.

| arch | seed | judge Fréchet | classes | confidence ratio | G steps | minutes | params G / D | health |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Judge Fréchet: the digit judge's (metrics=mnist_5k, trained on the training digits) Fréchet distance between 1,000
generated digits and the 500 held-out real ones (lower is better; the training digits themselves score
{real:.3f}). Classes: how many of the ten digits the judge finds among the generated ones (class coverage, a
mode-collapse check). Confidence ratio: the judge's mean confidence on generated digits over that on real ones.

{verdicts}A GAN on 4,500 images without augmentation is the setting that ADA (Karras et al. 2020a) was made for, D
overfitting the few real images; `augment=ada` or `augment=diffaugment` ([augmentation](../{AUGMENTATION})) is the
thing to try next, and is not measured here.

What it does not show: these are small networks on a tiny budget, far from either paper's scale, so the ranking says
which recipe learns digits fastest on a CPU, not which architecture is best; two seeds say how much a run varies,
not a confidence interval; the judge sees 14x14 digits, so fine detail at 32x32 is not measured.

{figures}

{mixing}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--kimg", type=float, default=128.0, help="thousands of images shown to D by each run")
    args = parser.parse_args()
    folders = {arch: [run(arch, seed, args.kimg) for seed in args.seeds] for arch in args.archs}
    (REPO / "docs" / "results" / "mnist_5k_archs.md").write_text(page(args.archs, args.seeds, args.kimg, folders))
    print("wrote docs/results/mnist_5k_archs.md", file=sys.stderr)


if __name__ == "__main__":
    main()
