"""f-GAN (Nowozin, Cseke & Tomioka 2016): GANs for any f-divergence D_f(P || Q) = E_Q[f(p(x) / q(x))].

The critic's raw score v becomes T = g_f(v), an output activation that keeps T inside the domain of the
convex conjugate f*; by Fenchel duality D_f(P || Q) >= sup_T E_P[T(x)] - E_Q[f*(T(x))], with equality at
T*(x) = f'(p(x) / q(x)). The discriminator maximises that bound (so -d_loss estimates the divergence) and
the generator minimises it. P is the data, Q the generator. The activations and conjugates are the
paper's Table 2 (its Table 1 gives f); each subclass composes f*(g_f(v)) in a form that cannot overflow
where the direct formula would.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gan_runner.objectives import Objective


class FDivergence(Objective):
    """The f-GAN game for one f. By default the generator uses the paper's practical loss, maximising
    E_Q[g_f(v)] (section 3.2: like the non-saturating GAN, strong gradients while D wins);
    `saturating_generator=True` gives the minimax loss E_Q[-f*(g_f(v))] instead."""

    def __init__(self, saturating_generator: bool = False) -> None:
        self.saturating_generator = saturating_generator

    # --- the divergence: f, its derivative, its conjugate and the output activation ---
    def f(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        """f*(t) = sup_u u t - f(u), on the domain of f*."""
        raise NotImplementedError

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        """g_f: raw score -> T(x), inside the domain of f*."""
        raise NotImplementedError

    def conjugate_of_activation(self, v: torch.Tensor) -> torch.Tensor:
        """f*(g_f(v)); subclasses override it with a stable form of the same function."""
        return self.conjugate(self.activation(v))

    # --- the game ---
    def variational_bound(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """E_P[T] - E_Q[f*(T)], a lower bound on D_f(P || Q) for any critic."""
        return self.activation(real_scores).mean() - self.conjugate_of_activation(fake_scores).mean()

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return -self.variational_bound(real_scores, fake_scores)

    def g_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.saturating_generator:
            return -self.conjugate_of_activation(fake_scores).mean()
        return -self.activation(fake_scores).mean()


class KL(FDivergence):
    """Kullback-Leibler KL(P || Q): f(u) = u log u, g_f(v) = v, f*(t) = exp(t - 1)."""

    def f(self, u: torch.Tensor) -> torch.Tensor:
        return u * torch.log(u)

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        return 1 + torch.log(u)

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(t - 1)

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        return v


class ReverseKL(FDivergence):
    """Reverse KL, KL(Q || P): f(u) = -log u, g_f(v) = -exp(-v), f*(t) = -1 - log(-t)."""

    def f(self, u: torch.Tensor) -> torch.Tensor:
        return -torch.log(u)

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        return -1 / u

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        return -1 - torch.log(-t)

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        return -torch.exp(-v)

    def conjugate_of_activation(self, v: torch.Tensor) -> torch.Tensor:
        return v - 1


class Pearson(FDivergence):
    """Pearson chi-squared: f(u) = (u - 1)^2, g_f(v) = v, f*(t) = t^2 / 4 + t."""

    def f(self, u: torch.Tensor) -> torch.Tensor:
        return (u - 1) ** 2

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        return 2 * (u - 1)

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        return t**2 / 4 + t

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        return v


class Neyman(FDivergence):
    """Neyman chi-squared: f(u) = (1 - u)^2 / u, g_f(v) = 1 - exp(-v), f*(t) = 2 - 2 sqrt(1 - t)."""

    def f(self, u: torch.Tensor) -> torch.Tensor:
        return (1 - u) ** 2 / u

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        return 1 - 1 / u**2

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        return 2 - 2 * torch.sqrt(1 - t)

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        return 1 - torch.exp(-v)

    def conjugate_of_activation(self, v: torch.Tensor) -> torch.Tensor:
        return 2 - 2 * torch.exp(-v / 2)


class SquaredHellinger(FDivergence):
    """Squared Hellinger, E[(sqrt(p) - sqrt(q))^2]: f(u) = (sqrt(u) - 1)^2, g_f(v) = 1 - exp(-v),
    f*(t) = t / (1 - t)."""

    def f(self, u: torch.Tensor) -> torch.Tensor:
        return (torch.sqrt(u) - 1) ** 2

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        return 1 - 1 / torch.sqrt(u)

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        return t / (1 - t)

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        return 1 - torch.exp(-v)

    def conjugate_of_activation(self, v: torch.Tensor) -> torch.Tensor:
        return torch.expm1(v)


class JensenShannon(FDivergence):
    """Jensen-Shannon, with the paper's f(u) = u log u - (u + 1) log((u + 1) / 2), whose divergence is
    KL(P || M) + KL(Q || M) = 2 JS(P || Q), M = (P + Q) / 2; g_f(v) = log 2 - log(1 + exp(-v)),
    f*(t) = -log(2 - exp(t))."""

    logistic = True  # D's loss is softplus(-v) on real plus softplus(v) on fake, minus log 4
    decision_threshold = 0.0

    def f(self, u: torch.Tensor) -> torch.Tensor:
        return u * torch.log(u) - (u + 1) * torch.log((u + 1) / 2)

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        return torch.log(2 * u / (u + 1))

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.log(2 - torch.exp(t))

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        return math.log(2) - F.softplus(-v)

    def conjugate_of_activation(self, v: torch.Tensor) -> torch.Tensor:
        return F.softplus(v) - math.log(2)


class OriginalGAN(FDivergence):
    """The original GAN as an f-GAN: f(u) = u log u - (u + 1) log(u + 1), i.e. 2 JS(P || Q) - log 4;
    g_f(v) = -log(1 + exp(-v)) = log sigmoid(v), f*(t) = -log(1 - exp(t)). The discriminator's loss is
    then exactly the minimax GAN's, and the default generator loss the non-saturating one."""

    logistic = True
    decision_threshold = 0.0

    def f(self, u: torch.Tensor) -> torch.Tensor:
        return u * torch.log(u) - (u + 1) * torch.log(u + 1)

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        return torch.log(u / (u + 1))

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.log(1 - torch.exp(t))

    def activation(self, v: torch.Tensor) -> torch.Tensor:
        return -F.softplus(-v)

    def conjugate_of_activation(self, v: torch.Tensor) -> torch.Tensor:
        return F.softplus(v)
