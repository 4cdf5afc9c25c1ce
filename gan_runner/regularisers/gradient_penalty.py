"""Gradient penalty (Gulrajani et al. 2017, WGAN-GP).

On points x̂ = εx + (1 - ε)x̃ between real and fake samples (ε ~ U[0, 1] per sample), the critic's
gradient norm is pulled towards 1: λ E[(||∇D(x̂)||₂ - 1)²]. A 1-Lipschitz critic has gradient norm 1
almost everywhere on these lines at the optimum (the paper's Proposition 1).
"""

from __future__ import annotations

import torch

from gan_runner.regularisers import Critic, Regulariser


class GradientPenalty(Regulariser):
    def __init__(self, weight: float = 10.0, every: int = 1, target: float = 1.0) -> None:
        super().__init__(weight=weight, every=every)
        self.target = target

    def penalty(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = torch.rand(eps_shape, device=real.device, dtype=real.dtype)
        between = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
        grad_norm = grad.flatten(1).norm(2, dim=1)
        return ((grad_norm - self.target) ** 2).mean()
