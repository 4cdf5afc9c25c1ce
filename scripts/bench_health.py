"""What the health numbers cost: D's accuracies (every D step) and every layer's largest singular value (every
log row), as a fraction of the training step time at the default log_every.

    python scripts/bench_health.py [--steps 300] [--repeats 3] [OVERRIDES ...]

Builds the run the overrides describe (default: gan-run's defaults, DCGAN on digits) as train.py does, then
times on this machine (median of --repeats): one full step (n_critic D steps and a G step) with the accuracies
and without them (the objective's decision threshold set to None), and one `spectral_norms` call on G and D.
Prints the overhead per step: the accuracies' difference plus the singular values' time divided by log_every.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_module

from gan_runner.build import run_parts
from gan_runner.health.diagnostics import spectral_norms
from gan_runner.steps import Batches, d_step, g_step


def seconds_per_step(run, state, batches: Batches, n_critic: int, steps: int) -> float:
    started = time.perf_counter()
    for step in range(steps):
        for _ in range(n_critic):
            batch = batches.next()
            d_step(run.G, run.D, run.objective, state.regularisers, state.opt_d, batch, step, run.precision)
        g_step(run.G, run.D, run.objective, state.regularisers, state.opt_g, batches.for_generator(batch), step,
               run.precision)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["logger=none", "metrics=none", *args.overrides])
    device = torch.device("cpu")
    run, state = run_parts(cfg, device)
    data = run.dataset.batches(cfg.train.batch_size, torch.Generator().manual_seed(0), 0, device)
    batches = Batches(data, cfg.z_dim, run.num_classes, device, state.G.latent)
    threshold = run.objective.decision_threshold
    seconds_per_step(run, state, batches, cfg.train.n_critic, 20)  # warm-up
    with_accuracy, without_accuracy, norms = [], [], []
    for _ in range(args.repeats):
        run.objective.decision_threshold = threshold
        with_accuracy.append(seconds_per_step(run, state, batches, cfg.train.n_critic, args.steps))
        run.objective.decision_threshold = None
        without_accuracy.append(seconds_per_step(run, state, batches, cfg.train.n_critic, args.steps))
        started = time.perf_counter()
        spectral_norms({"G": state.G, "D": state.D})
        norms.append(time.perf_counter() - started)
    step, bare, sigma = (statistics.median(v) for v in (with_accuracy, without_accuracy, norms))
    per_step = (step - bare) + sigma / cfg.train.log_every
    print(f"overrides: {' '.join(args.overrides) or '(defaults)'}; {torch.get_num_threads()} threads")
    print(f"step without accuracies {bare * 1e3:.2f} ms, with {step * 1e3:.2f} ms; spectral_norms {sigma * 1e3:.1f} ms "
          f"per row (log_every {cfg.train.log_every})")
    print(f"health numbers: {per_step * 1e3:.3f} ms a step, {100 * per_step / bare:.1f} % of the step")


if __name__ == "__main__":
    main()
