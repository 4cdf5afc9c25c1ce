"""Time one training step of each architecture at 32x32: a discriminator update and a generator update
(steps.py's own d_step and g_step), hinge loss, batch 64, z of 128, three channels, the widths of
conf/arch/<name>.yaml (at 32x32: DCGAN 256-128-64 / 64-128-256, SNGAN's ResNet, SAGAN with attention at
16x16), no regulariser, unconditional, fp32.

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
from hydra.utils import instantiate

from gan_runner.arch import count_parameters
from gan_runner.objectives.hinge import Hinge
from gan_runner.engine.step import Batch, d_step, g_step

SHAPE, Z_DIM, BATCH = (3, 32, 32), 128, 64


def build(arch: str, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module]:
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"arch={arch}"])
    torch.manual_seed(0)
    G = instantiate(cfg.arch.generator, z_dim=Z_DIM, data_shape=SHAPE, num_classes=None).to(device)
    D = instantiate(cfg.arch.discriminator, data_shape=SHAPE, num_classes=None).to(device)
    return G, D


def time_steps(arch: str, device: torch.device, steps: int, warm_up: int) -> float:
    """Median milliseconds of a D step plus a G step."""
    G, D = build(arch, device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.9))
    objective = Hinge()
    real = torch.rand(BATCH, *SHAPE, device=device) * 2 - 1
    times = []
    for step in range(warm_up + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        d_step(G, D, objective, {}, opt_d, Batch(real, None, torch.randn(BATCH, Z_DIM, device=device), None), step)
        g_step(G, D, objective, {}, opt_g, Batch(real, None, torch.randn(BATCH, Z_DIM, device=device), None), step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warm_up:
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
        G, D = build(arch, torch.device("cpu"))
        cpu = time_steps(arch, torch.device("cpu"), args.cpu_steps, warm_up=1)
        cuda = f"{time_steps(arch, torch.device('cuda'), args.gpu_steps, warm_up=5):.1f}" if gpu else "n/a"
        print(f"| {arch} | {count_parameters(G):,} | {count_parameters(D):,} | {cpu:.0f} | {cuda} |", flush=True)


if __name__ == "__main__":
    main()
