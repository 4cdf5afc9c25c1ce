"""Fused or unfused modulated convolution: which is faster where (arch=stylegan2's `fused_modconv`).

The StyleGAN2 generator (gan_runner/arch/stylegan2.py) computes each modulated convolution either as one grouped
convolution with a weight per sample (fused) or as the shared weight between a scaling of the inputs and of the
outputs (unfused); both give the same images (tests/test_arch_stylegan2.py). The official code fuses in eval mode and
not in training (fused_modconv null). This times both on the same generator and the same ws:

- train: G.synthesis forward and backward (the gradient of the images' sum w.r.t. the weights and ws), a G step's work;
- sample: G.synthesis forward without gradients, in eval mode (what samples and metrics do).

    OMP_NUM_THREADS=2 python scripts/bench_modconv.py                       # CPU: 16x16 and 32x32, the arch's widths
    python scripts/bench_modconv.py --device cuda --resolutions 256 1024 --batches 4 32 --channel-base 32768 \
        --width 512 --w-dim 512                                             # a GPU: config F's networks

Prints a markdown table: device, resolution, batch, milliseconds per call fused and unfused (the median over
--steps calls after --warm-up calls) and unfused / fused (above 1: fused is faster). Nothing else may run on the
machine meanwhile: a timing taken beside other work is worthless.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gan_runner.arch.stylegan2 import Generator


def milliseconds(call, device: torch.device, steps: int, warm_up: int) -> float:
    times = []
    for number in range(warm_up + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if number >= warm_up:
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def compare(G: Generator, ws: torch.Tensor, mode: str, device: torch.device, steps: int,
            warm_up: int) -> dict[bool, float]:
    """Milliseconds per call of `mode` (train | sample) with the modulated convolutions fused and unfused."""
    result = {}
    for fused in (True, False):
        G.synthesis.fused_modconv = fused
        if mode == "train":
            G.train()
            ws_grad = ws.clone().requires_grad_(True)

            def call() -> None:
                G.synthesis(ws_grad).sum().backward()
        else:
            G.eval()

            def call() -> None:
                with torch.no_grad():
                    G.synthesis(ws)
        result[fused] = milliseconds(call, device, steps, warm_up)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--channels", type=int, default=1, help="image channels")
    parser.add_argument("--channel-base", type=int, default=512, help="conf/arch/stylegan2.yaml's (config F: 32768)")
    parser.add_argument("--width", type=int, default=32, help="the most channels of a layer (config F: 512)")
    parser.add_argument("--w-dim", type=int, default=128, help="config F: 512")
    parser.add_argument("--modes", nargs="+", default=["train", "sample"], choices=["train", "sample"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warm-up", type=int, default=2)
    args = parser.parse_args()

    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"channel_base {args.channel_base}, width {args.width}, w_dim {args.w_dim}, {args.channels} image channels\n")
    print("| device | mode | resolution | batch | fused ms | unfused ms | unfused / fused |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for resolution in args.resolutions:
        torch.manual_seed(0)
        G = Generator(args.w_dim, (args.channels, resolution, resolution), w_dim=args.w_dim,
                      channel_base=args.channel_base, width=args.width, style_mixing=0.0).to(device)
        for batch in args.batches:
            ws = torch.randn(batch, G.num_ws, G.w_dim, device=device)
            for mode in args.modes:
                times = compare(G, ws, mode, device, args.steps, args.warm_up)
                print(f"| {device.type} | {mode} | {resolution} | {batch} | {times[True]:.2f} | {times[False]:.2f} | "
                      f"{times[False] / times[True]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
