"""Time one training step of each architecture at 32x32: the loop's own step (engine/step.py: a discriminator update
and a generator update, the bookkeeping), built as gan-run builds it, with the hinge loss, batch 64, z of 128, three
channels (stacked digits), the widths of conf/arch/<name>.yaml (at 32x32: DCGAN 256-128-64 / 64-128-256, SNGAN's
ResNet, SAGAN with attention at 16x16), no regulariser, unconditional, fp32.

    OMP_NUM_THREADS=2 python scripts/bench_arch.py [--archs mlp dcgan resnet sagan] [--cpu-steps 3] [--gpu-steps 20]

Prints a markdown table: parameters of G and D, milliseconds a step on the CPU (with the thread count
PyTorch uses) and on a CUDA GPU ("n/a" without one). Each timing is the median over the steps after
one warm-up step (five on the GPU).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_module

from gan_runner.arch import count_parameters
from gan_runner.engine.build import build_parts, build_step

BATCH = 64


def built(arch: str, device: str):
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"arch={arch}", "dataset=stacked_digits", "dataset.resolution=32", f"dataset.size={4 * BATCH}",
            "objective=hinge", "z_dim=128", f"train.batch_size={BATCH}", "train.betas=[0.0,0.9]", "metrics=none",
            "logger=none", "health=none", f"train.device={device}"])
    parts = build_parts(cfg)
    return parts, build_step(cfg, parts)


def time_steps(arch: str, device: str, steps: int, warm_up: int) -> float:
    """Median milliseconds of the loop's step."""
    _, step = built(arch, device)
    times = []
    for number in range(warm_up + steps):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        if number >= warm_up:
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["mlp", "dcgan", "resnet", "sagan"])
    parser.add_argument("--cpu-steps", type=int, default=3)
    parser.add_argument("--gpu-steps", type=int, default=20)
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    print(f"32x32x3, batch {BATCH}, hinge, one D and one G update; CPU: {torch.get_num_threads()} thread(s); "
          f"GPU: {torch.cuda.get_device_name() if gpu else 'none'}\n")
    print("| arch | params G | params D | ms/step CPU | ms/step GPU |")
    print("|---|---:|---:|---:|---:|")
    for arch in args.archs:
        parts, _ = built(arch, "cpu")
        cpu = time_steps(arch, "cpu", args.cpu_steps, warm_up=1)
        cuda = f"{time_steps(arch, 'cuda', args.gpu_steps, warm_up=5):.1f}" if gpu else "n/a"
        print(f"| {arch} | {count_parameters(parts.state.G):,} | {count_parameters(parts.state.D):,} | {cpu:.0f} | "
              f"{cuda} |", flush=True)


if __name__ == "__main__":
    main()
