"""Gradient penalties: WGAN-GP, its one-sided variant, R1, R2 and DRAGAN are one penalty on the critic's
gradient norm at different points.

    weight * E_x̂[(||∇D(x̂)||₂ - target)²]           (two-sided; target 0 gives ||∇D||², the "zero-centred")
    weight * E_x̂[max(0, ||∇D(x̂)||₂ - target)²]     (one_sided: only gradients steeper than the target)

where the points x̂ come from `points(real, fake)`:
- `interpolates`: x̂ = εx + (1 - ε)x̃, ε ~ U[0, 1] per sample (Gulrajani et al. 2017, WGAN-GP; Petzka et
  al. 2018 for the one-sided "Lipschitz penalty"; Thanh-Tung et al. 2019 with target 0).
- `on_real`: the real samples (R1, Mescheder et al. 2018); `on_fake`: the generated ones (R2).
- `perturbed_real`: points between x and x + 0.5 std(x) u, u ~ U[0, 1] (DRAGAN, Kodali et al. 2017, as
  in its authors' code).
"""

from __future__ import annotations

from typing import Callable

import torch

from gan_runner.regularisers import Critic, Regulariser

Points = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def interpolates(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    return eps * real + (1 - eps) * fake


def on_real(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return real


def on_fake(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake


def perturbed_real(real: torch.Tensor, fake: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    return interpolates(real, real + scale * real.std() * torch.rand_like(real))


class GradientPenalty(Regulariser):
    constrains_lipschitz = True

    def __init__(
        self, weight: float = 10.0, every: int = 1, target: float = 1.0, one_sided: bool = False,
        points: Points = interpolates,
    ) -> None:
        super().__init__(weight=weight, every=every)
        if target < 0:
            raise ValueError(f"gradient penalty 'target' is a gradient norm and must not be negative, got {target}")
        self.target, self.one_sided, self.points = target, one_sided, points

    def penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor,
        real_scores: torch.Tensor | None = None, fake_scores: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.points(real.detach(), fake.detach()).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        grad = grad.flatten(1)
        if self.target == 0:  # ||g||² directly, a polynomial, rather than through the norm
            return grad.pow(2).sum(1).mean()
        # vector_norm's backward is 0 where g = 0 (a dead ReLU region); sqrt(Σ g²) would give NaN there.
        excess = torch.linalg.vector_norm(grad, dim=1) - self.target
        if self.one_sided:
            excess = excess.clamp(min=0)
        return excess.pow(2).mean()
