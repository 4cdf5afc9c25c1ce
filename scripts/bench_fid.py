"""Seconds for the FID of n generated images (50,000 by default, as papers report it), computed as a training run
computes it: FID.__call__ with the loop's sampler (sample.draw_batches: G on the device, its images quantised to
8 bits there and fed to Inception there), the Inception Score, KID and precision/recall from the same features.

    python scripts/bench_fid.py [--n 50000] [--batch-size 50 250] [--resolution 32] [--device auto]

- G: the dcgan preset's generator at --resolution (z 100), untrained: its images cost what a trained one's do.
- The reference: 2,000 random real images, whose statistics are computed first and not timed (a run computes
  them once per dataset and caches them on disk).
- Weights: pytorch-fid's file when torch hub's cache holds it, else a random-weight Inception (convolutions
  Kaiming-normal) in a temporary TORCH_HOME: the time is the real network's, the score is no FID to quote.

Prints a row per batch size (metrics.batch_size, the images a forward pass; pytorch-fid's default is 50): the
seconds of the whole call, of the generation and the network alone (extract), and of the scores from the
features (FID's statistics and matrix square root, IS, KID, precision/recall). The issue's target: under 60 s
for 50,000 on an H100.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

from gan_runner.engine.build import configure_device, networks
from gan_runner.metrics import fid as fid_module
from gan_runner.metrics.fid import FID
from gan_runner.metrics.inception import WEIGHTS_FILE, hub_weights_path, write_random_weights
from gan_runner.engine.sampling import draw_batches

REAL_IMAGES = 2000


class RealImages:
    """The reference=train dataset FID asks for: uint8 images and their shape."""

    def __init__(self, resolution: int) -> None:
        self.shape = (3, resolution, resolution)
        self.images = (torch.rand(REAL_IMAGES, *self.shape, generator=torch.Generator().manual_seed(1)) * 255
                       ).to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50000, help="generated images")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[50, 250], help="metrics.batch_size values")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)

    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=dcgan", f"dataset.resolution={args.resolution}"])
    configure_device(cfg, device)  # as a run sets the device up (TF32 and cuDNN's autotuner on CUDA)
    torch.manual_seed(0)
    G, _, _ = networks(cfg, (3, args.resolution, args.resolution), None)
    G = G.to(device).eval()
    dataset = RealImages(args.resolution)

    with tempfile.TemporaryDirectory(prefix="bench_fid_") as root:
        weights = None
        if not hub_weights_path().is_file():
            weights = str(write_random_weights(Path(root) / "torch" / "hub" / "checkpoints" / WEIGHTS_FILE))
        print(f"{args.n:,} generated images at {args.resolution}x{args.resolution} on {device} "
              f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}); "
              f"{'random-weight Inception: timing only, no FID to quote' if weights else 'pytorch-fid weights'}")
        print("| batch size | whole call (s) | images/s | generation + Inception (s) | scores from features (s) | "
              f"{'fid (random weights)' if weights else 'fid'} |")
        print("|---:|---:|---:|---:|---:|---:|")
        for batch_size in args.batch_size:
            metric = FID(n_samples=args.n, batch_size=batch_size, weights=weights, download=False,
                         cache_dir=str(Path(root) / "cache"), device=str(device))
            metric.check(dataset)
            metric.reference_statistics(dataset)  # not timed: a run caches them once per dataset
            metric.network()
            timings = {}
            extract, compare = fid_module.extract, fid_module.compare

            def timed(name, function):
                def call(*a, **k):
                    started = time.perf_counter()
                    try:
                        return function(*a, **k)
                    finally:
                        timings[name] = time.perf_counter() - started
                return call

            fid_module.extract, fid_module.compare = timed("extract", extract), timed("compare", compare)
            try:
                sample = lambda n, rows=None: draw_batches(G, cfg.z_dim, n, seed=2, device=device, rows=rows)  # noqa: E731
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                scores = metric(sample, dataset)
                seconds = time.perf_counter() - started
            finally:
                fid_module.extract, fid_module.compare = extract, compare
            print(f"| {batch_size} | {seconds:.1f} | {args.n / seconds:,.0f} | {timings['extract']:.1f} | "
                  f"{timings['compare']:.1f} | {scores[metric.names()['fid']]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
