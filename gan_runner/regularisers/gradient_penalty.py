"""Gradient penalties: WGAN-GP, its one-sided variant, R1, R2 and DRAGAN are one penalty on the critic's
gradient norm at different points.

    weight * E_x̂[(||∇D(x̂)||₂ - target)²]           (two-sided; target 0 gives ||∇D||², the "zero-centred")
    weight * E_x̂[max(0, ||∇D(x̂)||₂ - target)²]     (one_sided: only gradients steeper than the target)

where the points x̂ (and, in a class-conditional run, the labels D scores them with) come from `points`:
- `Interpolates`: x̂ = εx + (1 - ε)x̃, ε ~ U[0, 1] per sample (Gulrajani et al. 2017, WGAN-GP; Petzka et
  al. 2018 for the one-sided "Lipschitz penalty"; Thanh-Tung et al. 2019 with target 0), scored with the
  real sample's label (the usual choice in conditional WGAN-GP code; the line between two classes has none).
- `OnReal`: the real samples and their labels (R1, Mescheder et al. 2018); `OnFake`: the generated ones
  and the labels they were generated with (R2).
- `PerturbedReal`: points between x and x + scale std(x) u, u ~ U[0, 1], with x's label (DRAGAN, Kodali et
  al. 2017, scale 0.5 as in its authors' code).

Only the penalty at interpolates with a positive target keeps D Lipschitz between the two distributions
(`constrains_lipschitz`); the others constrain D near some samples only, or pull its slope to 0.
"""

from __future__ import annotations

import torch

from gan_runner import distributed
from gan_runner.regularisers import Critic, Regulariser, input_gradient


class Points:
    """Where a gradient penalty takes D's gradient: (points, their labels) from the real and fake batches."""

    spans_real_and_fake = False  # True: the points cover the region between the two distributions

    def __call__(self, real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor | None = None,
                 fake_labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


def interpolate(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """εa + (1 - ε)b with one ε ~ U[0, 1] per sample (the same per sample with any number of processes)."""
    eps = distributed.per_sample(torch.rand, (a.shape[0],) + (1,) * (a.dim() - 1), device=a.device, dtype=a.dtype)
    return eps * a + (1 - eps) * b


class Interpolates(Points):
    spans_real_and_fake = True

    def __call__(self, real, fake, real_labels=None, fake_labels=None):
        return interpolate(real, fake), real_labels


class OnReal(Points):
    def __call__(self, real, fake, real_labels=None, fake_labels=None):
        return real, real_labels


class OnFake(Points):
    def __call__(self, real, fake, real_labels=None, fake_labels=None):
        return fake, fake_labels


class PerturbedReal(Points):
    def __init__(self, scale: float = 0.5) -> None:
        self.scale = scale

    def __call__(self, real, fake, real_labels=None, fake_labels=None):
        # real.std() is this process's batch's, on several processes (gan_runner.distributed)
        noise = distributed.per_sample(torch.rand, real.shape, device=real.device, dtype=real.dtype)
        return interpolate(real, real + self.scale * real.std() * noise), real_labels


class GradientPenalty(Regulariser):
    penalises_input_gradient = True

    def __init__(
        self, weight: float = 10.0, every: int = 1, target: float = 1.0, one_sided: bool = False,
        points: Points | None = None, own_step: bool = False,
    ) -> None:
        super().__init__(weight=weight, every=every, own_step=own_step)
        if target < 0:
            raise ValueError(f"gradient penalty 'target' is a gradient norm and must not be negative, got {target}")
        self.target, self.one_sided, self.points = target, one_sided, points or Interpolates()

    @property
    def constrains_lipschitz(self) -> bool:
        return self.target > 0 and self.points.spans_real_and_fake

    def penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor,
        real_scores: torch.Tensor | None = None, fake_scores: torch.Tensor | None = None,
        real_labels: torch.Tensor | None = None, fake_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x, labels = self.points(real.detach(), fake.detach(), real_labels, fake_labels)
        x = x.detach().requires_grad_(True)
        grad = input_gradient(critic, x, labels).float().flatten(1)
        if self.target == 0:  # ||g||² directly, a polynomial, rather than through the norm
            return grad.pow(2).sum(1).mean()
        # vector_norm's backward is 0 where g = 0 (a dead ReLU region); sqrt(Σ g²) would give NaN there.
        excess = torch.linalg.vector_norm(grad, dim=1) - self.target
        if self.one_sided:
            excess = excess.clamp(min=0)
        return excess.pow(2).mean()
