"""Where one training step's time goes: torch.profiler over the run's own step (the schedule, n_critic D updates, one
G update, the counters, the statistics, the moving average), built and called as the loop does, after a few warm-up
steps.

    python scripts/profile_step.py [--steps 5] [--warmup 3] [--top 15] OVERRIDES...
    python scripts/profile_step.py experiment=sngan dataset=image_folder dataset.root=DIR train.precision=bf16

Prints the operators launched per step (a GPU step bound by Python's launches costs about their count times a
few microseconds), the step's wall time, and the operators that took the most time on the device (CUDA) or
the CPU, with their counts per step. Overrides are gan-run's (train.cuda_graph=true profiles the recorded
step's replays); the device is train.device (auto: CUDA when present).
"""

from __future__ import annotations

import argparse
import collections
import time

import torch
from hydra import compose, initialize_config_module
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from gan_runner.engine.build import build_parts, build_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="profiled steps")
    parser.add_argument("--warmup", type=int, default=5, help="steps first, not profiled (a CUDA graph's are "
                        "eager: 3, then one recorded)")
    parser.add_argument("--top", type=int, default=15, help="operators listed")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=args.overrides)
    parts = build_parts(cfg)
    step = build_step(cfg, parts)  # the loop's own step: schedule, updates, counters, statistics, moving average
    device = parts.device

    cuda = device.type == "cuda"
    synchronise = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(args.warmup):
        step()
    synchronise()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronise()
    seconds = (time.perf_counter() - started) / args.steps
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as profiler:
        for _ in range(args.steps):
            step()
        synchronise()
    top_level = [event for event in profiler.events()  # the operators Python called (not the kernels they ran)
                 if event.cpu_parent is None and event.device_type == DeviceType.CPU]
    launches = collections.Counter(event.name for event in top_level)
    print(f"{' '.join(args.overrides)}\n{device}, n_critic {cfg.train.n_critic}: {seconds * 1000:.1f} ms a step "
          f"(unprofiled), {len(top_level) / args.steps:.0f} operators called a step from Python")
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    table = profiler.key_averages().table(sort_by=key, row_limit=args.top, max_name_column_width=60)
    print(table)
    print("Most called operators a step:", ", ".join(f"{name} {count / args.steps:.0f}"
                                                   for name, count in launches.most_common(12)))


if __name__ == "__main__":
    main()
