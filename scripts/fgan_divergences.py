"""Checks the f-GAN objectives as divergence estimators, the way Nowozin et al. (2016, section 4) do.

For P = N(0, 1) (the "data") and Q = N(1, 1) (the "model") each f-GAN critic is trained on samples to
maximise the variational bound E_P[g_f(V)] - E_Q[f*(g_f(V))] (its d_loss, negated); the bound on fresh
samples then estimates D_f(P || Q), which the table compares with the divergence computed by quadrature
of E_Q[f(p/q)]. Closed forms for unit-variance Gaussians with means 1 apart: KL = reverse KL = 0.5,
Pearson = Neyman chi-squared = e - 1, squared Hellinger = 2 (1 - exp(-1/8)).

    python scripts/fgan_divergences.py [--steps 3000] [--seed 0]

Runs in seconds on a CPU; tests/test_objectives.py checks two rows within 10 %.
"""

from __future__ import annotations

import argparse
import importlib.resources
import math
import time

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from gan_runner.objectives.fgan import FDivergence

CONF = importlib.resources.files("gan_runner.conf") / "objective"
MEAN_P, MEAN_Q = 0.0, 1.0


def log_density(x: torch.Tensor, mean: float) -> torch.Tensor:
    return -0.5 * (x - mean) ** 2 - 0.5 * math.log(2 * math.pi)


def divergence_by_quadrature(objective: FDivergence) -> float:
    """D_f(P || Q) = ∫ q(x) f(p(x) / q(x)) dx on a fine grid, in float64."""
    x = torch.linspace(-15.0, 16.0, 400_001, dtype=torch.float64)
    q = log_density(x, MEAN_Q).exp()
    ratio = (log_density(x, MEAN_P) - log_density(x, MEAN_Q)).exp()
    return torch.trapezoid(q * objective.f(ratio), x).item()


def estimate_divergence(
    objective: FDivergence, steps: int = 3000, batch: int = 2048, seed: int = 0, eval_samples: int = 1_000_000
) -> float:
    """Trains a small critic on samples of P and Q with the objective's d_loss; returns its bound on
    `eval_samples` fresh samples of each."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    optimiser = torch.optim.Adam(critic.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.LinearLR(optimiser, 1.0, 0.05, steps)
    for _ in range(steps):
        p = torch.randn(batch, 1, generator=generator) + MEAN_P
        q = torch.randn(batch, 1, generator=generator) + MEAN_Q
        loss = objective.d_loss(critic(p).squeeze(1), critic(q).squeeze(1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    with torch.no_grad():
        p = torch.randn(eval_samples, 1, generator=generator) + MEAN_P
        q = torch.randn(eval_samples, 1, generator=generator) + MEAN_Q
        return objective.variational_bound(critic(p).squeeze(1), critic(q).squeeze(1)).item()


def fgan_objectives() -> dict[str, FDivergence]:
    """Every f-GAN objective in conf/objective/, built from its YAML file."""
    files = sorted((path for path in CONF.iterdir() if path.name.startswith("fgan_") and path.name.endswith(".yaml")),
                   key=lambda path: path.name)
    return {path.name.removesuffix(".yaml"): instantiate(OmegaConf.create(path.read_text())) for path in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| objective | D_f(N(0,1) ‖ N(1,1)) by quadrature | critic's estimate | error | seconds |")
    print("|---|---|---|---|---|")
    for name, objective in fgan_objectives().items():
        started = time.time()
        exact, estimate = divergence_by_quadrature(objective), estimate_divergence(objective, args.steps, seed=args.seed)
        print(f"| {name} | {exact:.4f} | {estimate:.4f} | {100 * (estimate - exact) / abs(exact):+.1f} % "
              f"| {time.time() - started:.1f} |", flush=True)


if __name__ == "__main__":
    main()
