"""What the health numbers and detectors cost, as a fraction of the training step time at the default log_every.

    python scripts/bench_health.py [--steps 300] [--repeats 3] [OVERRIDES ...]

Builds the run the overrides describe (default: gan-run's defaults, DCGAN on digits) as train.py does, then
times on this machine (median of --repeats): one full step (n_critic D steps and a G step) with D's accuracies and
without them (the objective's decision threshold set to None); and, once per log row, the singular values of every
layer (`spectral_norms`), the sample diversity score (a forward pass of G on its fixed noise and the distances) and
the detectors reading the row (`Health.observe`). Prints each, and the overhead per step: the accuracies'
difference plus the per-row costs divided by log_every.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_module

from gan_runner.engine.build import build_parts, build_step
from gan_runner.engine.step import TrainingStep
from gan_runner.health.diagnostics import spectral_norms


def seconds_per_step(step: TrainingStep, steps: int) -> float:
    """The loop's own step, timed (its statistics are fetched at the end, as a row would)."""
    started = time.perf_counter()
    for _ in range(steps):
        step()
    step.state.stats.means()
    return (time.perf_counter() - started) / steps


def seconds(call, repeats: int = 5) -> float:
    """The median time of `call()`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["logger=none", "metrics=none", *args.overrides])
    cfg.train.device = "cpu"
    parts = build_parts(cfg)
    state, objective = parts.state, parts.objective
    step = build_step(cfg, parts)
    threshold = objective.decision_threshold
    seconds_per_step(step, 20)  # warm-up
    with_accuracy, without_accuracy, norms, diversity, detectors = [], [], [], [], []
    health = state.health
    for repeat in range(args.repeats):
        objective.decision_threshold = threshold
        with_accuracy.append(seconds_per_step(step, args.steps))
        objective.decision_threshold = None
        without_accuracy.append(seconds_per_step(step, args.steps))
        norms.append(seconds(lambda: spectral_norms({"G": state.G, "D": state.D})))
        diversity.append(seconds(lambda: health.diversity(state.G)))
        # A row as the loop makes it (one step's statistics and the diagnostics); the detectors' history grows by
        # a row a call, as in a run.
        objective.decision_threshold = threshold
        step()
        row = state.stats.means()
        row.update(health.diagnostics(state.G, state.D, row))
        detectors.append(seconds(lambda: health.observe(row, repeat)))
    step, bare, sigma, spread, detect = (statistics.median(v) for v in
                                          (with_accuracy, without_accuracy, norms, diversity, detectors))
    every = cfg.train.log_every
    per_step = (step - bare) + (sigma + spread + detect) / every
    print(f"overrides: {' '.join(args.overrides) or '(defaults)'}; {torch.get_num_threads()} threads")
    print(f"step without accuracies {bare * 1e3:.2f} ms, with {step * 1e3:.2f} ms; per row (log_every {every}): "
          f"spectral_norms {sigma * 1e3:.1f} ms, diversity {spread * 1e3:.1f} ms, detectors {detect * 1e3:.3f} ms")
    print(f"health numbers and detectors: {per_step * 1e3:.3f} ms a step, {100 * per_step / bare:.1f} % of the step")
    print("Markdown row: | overrides | step | accuracies a step | per row: singular values, diversity, detectors "
          "| overhead |")
    print(f"| {' '.join(args.overrides) or '(defaults)'} (log_every {every}) | {bare * 1e3:.2f} ms | "
          f"{(step - bare) * 1e3:+.2f} ms | {sigma * 1e3:.1f} ms, {spread * 1e3:.1f} ms, {detect * 1e3:.2f} ms | "
          f"{100 * per_step / bare:.1f} % |")


if __name__ == "__main__":
    main()
