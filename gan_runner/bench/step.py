"""Iterations per second of the dcgan preset (`experiment=dcgan`) trained two ways, on the same in-memory data
(DATA_BATCHES batches of stacked digits, RGB, in the dataset's seeded order), from the same initial weights:

  (a) plain: pytorch/examples' dcgan loop (gan_runner/bench/reference_dcgan.py).
  (b) gan-runner: the loop's own step, built by engine/build.py as gan-run builds it (Adam foreach on the CPU;
      fused Adam, TF32 and channels-last on CUDA) with train.precision, train.compile or train.cuda_graph as the
      variant says, and the preset's recipe: real and fake in separate passes of D, G's update on the fakes of D's
      (train.separate_passes, reuse_fakes). The graph variants have no (a) row: the example has no CUDA-graph
      version.

One iteration is one D update and one G update. Warm-up iterations are not timed; on CUDA the clock is read
after torch.cuda.synchronize(). Peak memory: on CUDA torch.cuda.max_memory_allocated() (everything allocated:
weights, optimiser state, data, activations); on the CPU the peak resident set size minus the resident set size
before the first iteration (the peak is reset through /proc/self/clear_refs). Each row runs in a fresh process.

    python scripts/bench_step.py [--resolution 64] [--batch-size 64] [--iters N] [--warmup N]
        [--devices cpu cuda] [--variants fp32 bf16 compile bf16-compile graph bf16-graph] [--threads N]
        [--retries N]
        [--override arch.generator.width=8 ...]

--resolution 32 is the issue's GPU target (DCGAN at 32x32, batch 64, >= 500 it/s on an H100); G and D then
have the preset's widths at that size (G 256-128-64, D 64-128-256). Prints a markdown table; the last column is
(b)'s time per iteration over (a)'s (below 1: gan-runner is faster), then the CPU seconds that other processes
took while the row was timed (on a shared CPU, a row with more than a few is not to be trusted).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import re
import resource
import time
from typing import Optional

import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf

from gan_runner.arch import count_parameters
from gan_runner.bench.reference_dcgan import Iteration, plain_loop
from gan_runner.engine.build import build, build_parts, build_step, networks

LOOPS = {"plain": "(a) plain loop", "gan-runner": "(b) gan-runner's step"}
# A variant is a precision and a way to launch the step (eager, torch.compile, a CUDA graph: train.cuda_graph);
# each makes one row per loop and device.
VARIANTS = {"fp32": ("fp32", "eager"), "bf16": ("bf16", "eager"), "compile": ("fp32", "compile"),
            "bf16-compile": ("bf16", "compile"), "graph": ("fp32", "graph"), "bf16-graph": ("bf16", "graph")}
CHANNELS, DATA_BATCHES = 3, 10  # the data: DATA_BATCHES x batch size stacked digits (RGB), held on the device


def preset_config(resolution: int, overrides: tuple[str, ...] = ()) -> DictConfig:
    """The dcgan preset on RGB data that needs no download: DATA_BATCHES batches' worth of stacked digits."""
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=dcgan", "dataset=stacked_digits", f"dataset.resolution={resolution}", "metrics=none",
            "logger=none", "health=none", *overrides])
    cfg.dataset.size = DATA_BATCHES * cfg.train.batch_size
    return cfg


def runner_loop(cfg: DictConfig, device: torch.device, precision: str, mode: str) -> Optional[Iteration]:
    """(b): gan-runner's step, built as gan-run builds it (engine/build.py: channels-last networks, fused Adam and TF32
    on CUDA, train.precision, train.compile or train.cuda_graph, the preset's separate passes and reuse of D's fakes)
    and called as the loop calls it: each call is one whole step, its batch drawn from the dataset."""
    overrides = {"train.device": str(device), "train.precision": precision, "train.compile": mode == "compile",
                 "train.cuda_graph": mode == "graph"}
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value)
    parts = build_parts(cfg)
    return build_step(cfg, parts)


def plain(cfg: DictConfig, device: torch.device, precision: str, mode: str) -> Optional[Iteration]:
    """(a): pytorch/examples' loop on the same dataset's batches, from the weights gan-runner's builder starts from
    (the same seed)."""
    torch.manual_seed(cfg.seed)
    G, D, _ = networks(cfg, (CHANNELS, cfg.dataset.resolution, cfg.dataset.resolution), None)
    dataset = build(cfg, "dataset")
    batches = (real for real, _ in dataset.batches(cfg.train.batch_size, torch.Generator().manual_seed(cfg.seed),
                                                    0, device))
    return plain_loop(G.to(device), D.to(device), cfg, device, precision, mode, batches)


LOOP_BUILDERS = {"plain": plain, "gan-runner": runner_loop}


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{key}:\s+(\d+) kB", status.read(), re.M).group(1))


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (/proc/stat), to tell what other processes took."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(loop: str, device_name: str, precision: str, mode: str, resolution: int, batch_size: int,
            iters: int, warmup: int, overrides: tuple[str, ...] = (), seed: int = 0,
            threads: Optional[int] = None) -> Optional[dict]:
    """One row: {"it_s", "peak_mib", "threads", "others_cpu_s"} (the CPU seconds other processes took while
    this row was timed), or None where the loop has no such variant yet."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device_name)
    cfg = preset_config(resolution, (*overrides, f"train.batch_size={batch_size}"))
    iteration = LOOP_BUILDERS[loop](cfg, device, precision, mode)
    if iteration is None:
        return None

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        with open("/proc/self/clear_refs", "w") as clear:  # resets VmHWM (the peak RSS) to the current RSS
            clear.write("5")
        rss_before = _status_kib("VmRSS")
    for _ in range(warmup):
        iteration()
    if cuda:
        torch.cuda.synchronize()
    started, busy, own = time.perf_counter(), _busy_seconds(), _own_seconds()
    for _ in range(iters):
        iteration()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    others = max(0.0, _busy_seconds() - busy - (_own_seconds() - own))
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else (_status_kib("VmHWM") - rss_before) / 2**10
    return {"it_s": iters / elapsed, "peak_mib": peak, "threads": torch.get_num_threads(), "others_cpu_s": others}


def measure_in_new_process(retries: int = 0, **kwargs: object) -> Optional[dict]:
    """A fresh process per row, so that no row inherits another's compiled graphs, caches or peak memory. A row
    during which other processes kept more than 5% of the CPU busy is measured again, up to `retries` times."""
    for _ in range(retries + 1):
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            row = pool.apply(measure, kwds=kwargs)
        if row is None or row["others_cpu_s"] <= 0.05 * os.cpu_count() * kwargs["iters"] / row["it_s"]:
            break
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--iters", type=int, help="timed iterations (default: 10 on the CPU, 300 on CUDA)")
    parser.add_argument("--warmup", type=int, help="untimed iterations first (default: 2 on the CPU, 30 on CUDA)")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], choices=["cpu", "cuda"])
    parser.add_argument("--variants", nargs="+", default=["fp32", "bf16", "compile"], choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads); default: PyTorch's "
                        "choice. On a CPU shared with other work, 2 threads where one core is busy can be 10x slower")
    parser.add_argument("--retries", type=int, default=0, help="measure a row again (at most this many times) "
                        "when other processes took more than 5%% of the CPU while it was timed")
    parser.add_argument("--override", nargs="*", default=[], help="Hydra overrides of the preset, e.g. "
                        "arch.generator.width=32")
    args = parser.parse_args(argv)
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    cfg = preset_config(args.resolution, tuple(args.override))
    G, D, _ = networks(cfg, (CHANNELS, args.resolution, args.resolution), None)
    overrides = "".join(f" {o}" for o in args.override)
    print(f"experiment=dcgan at {args.resolution}x{args.resolution}x{CHANNELS}{overrides}, batch "
          f"{args.batch_size}: G {count_parameters(G):,}, D {count_parameters(D):,} parameters; torch "
          f"{torch.__version__}; CPU threads {args.threads or torch.get_num_threads()}; CUDA: "
          f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}\n")
    print("| device | variant | loop | iters (+warm-up) | it/s | ms/it | peak memory (MiB) | time (b)/(a) "
          "| others' CPU s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for device, variant in itertools.product(devices, args.variants):
        precision, mode = VARIANTS[variant]
        iters = args.iters or (300 if device == "cuda" else 10)
        warmup = args.warmup if args.warmup is not None else (30 if device == "cuda" else 2)
        plain_speed = None
        for loop, label in LOOPS.items():
            try:
                row = measure_in_new_process(args.retries, loop=loop, device_name=device, precision=precision,
                                             mode=mode, resolution=args.resolution, batch_size=args.batch_size,
                                             iters=iters, warmup=warmup, overrides=tuple(args.override),
                                             threads=args.threads)
            except Exception as error:  # one row's failure (a compiler's, say) is reported; the others still run
                message = " ".join(str(error).split())[:200]
                print(f"| {device} | {variant} | {label} | | failed: {type(error).__name__}: {message} | | | | |",
                      flush=True)
                continue
            if row is None:
                print(f"| {device} | {variant} | {label} | | n/a | | | | |", flush=True)
                continue
            plain_speed = row["it_s"] if loop == "plain" else plain_speed
            ratio = f"{plain_speed / row['it_s']:.2f}" if loop != "plain" and plain_speed else ""
            memory = f"{row['peak_mib']:.0f}" + (" (RSS delta)" if device == "cpu" else "")
            print(f"| {device} | {variant} | {label} | {iters} (+{warmup}) | {row['it_s']:.2f} | "
                  f"{1000 / row['it_s']:.1f} | {memory} | {ratio} | {row['others_cpu_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
