"""Each objective against its closed form."""

from __future__ import annotations

import math

import pytest
import torch

from gan_runner.objectives.hinge import Hinge
from gan_runner.objectives.lsgan import LeastSquares
from gan_runner.objectives.minimax import Minimax
from gan_runner.objectives.nonsaturating import NonSaturating
from gan_runner.objectives.wgan import Wasserstein


def optimal_scores(objective, p_counts: list[int], q_counts: list[int], steps: int = 2000) -> torch.Tensor:
    """Minimises the discriminator's loss over a free score at each point of a discrete space.

    Real samples are the points repeated `p_counts` times, fake ones `q_counts` times, so the batch
    means inside d_loss are exactly the expectations under p and q. Returns the optimal scores."""
    real_index = torch.repeat_interleave(torch.arange(len(p_counts)), torch.tensor(p_counts))
    fake_index = torch.repeat_interleave(torch.arange(len(q_counts)), torch.tensor(q_counts))
    scores = torch.zeros(len(p_counts), requires_grad=True)
    optimiser = torch.optim.Adam([scores], lr=0.05)
    for _ in range(steps):
        loss = objective.d_loss(scores[real_index], scores[fake_index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return scores.detach()


P_COUNTS, Q_COUNTS = [10, 6, 3, 1], [1, 2, 3, 4]
P = torch.tensor(P_COUNTS) / sum(P_COUNTS)
Q = torch.tensor(Q_COUNTS) / sum(Q_COUNTS)


def test_minimax_optimal_discriminator_is_p_over_p_plus_q() -> None:
    scores = optimal_scores(Minimax(), P_COUNTS, Q_COUNTS)
    torch.testing.assert_close(torch.sigmoid(scores), P / (P + Q), atol=1e-3, rtol=0)


def test_minimax_value_at_p_equals_q_is_minus_log_4() -> None:
    # At p = q the optimal D is 1/2 everywhere; V(D*, G) = log(1/2) + log(1/2) = -log 4, and the
    # discriminator's loss is -V.
    scores = optimal_scores(Minimax(), Q_COUNTS, Q_COUNTS)
    torch.testing.assert_close(torch.sigmoid(scores), torch.full((4,), 0.5), atol=1e-3, rtol=0)
    value = -Minimax().d_loss(torch.zeros(5), torch.zeros(5))
    assert value.item() == pytest.approx(-math.log(4), abs=1e-6)


def test_lsgan_optimal_discriminator_matches_closed_form() -> None:
    # Mao et al. 2017, eq. (4): D*(x) = (b p + a q) / (p + q).
    a, b = -1.0, 1.0
    scores = optimal_scores(LeastSquares(a=a, b=b, c=0.0), P_COUNTS, Q_COUNTS)
    torch.testing.assert_close(scores, (b * P + a * Q) / (P + Q), atol=1e-3, rtol=0)


def test_hinge_and_wgan_losses_on_hand_made_scores() -> None:
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    # hinge: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + .5 + 2)/3 + (0 + 1 + 2.5)/3 = 2
    assert Hinge().d_loss(real, fake).item() == pytest.approx(2.0)
    assert Hinge().g_loss(fake).item() == pytest.approx(0.5 / 3)
    # wgan: mean(fake) - mean(real) = -0.5/3 - 1.5/3; G minimises -mean(fake) = 0.5/3
    assert Wasserstein().d_loss(real, fake).item() == pytest.approx(-2.0 / 3)
    assert Wasserstein().g_loss(fake).item() == pytest.approx(0.5 / 3)


def test_minimax_and_nonsaturating_losses_on_hand_made_scores() -> None:
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 0.0])
    expected_d = -(math.log(0.5) + math.log(1 / (1 + math.exp(-2)))) / 2 - (
        math.log(1 - 1 / (1 + math.exp(1))) + math.log(0.5)
    ) / 2
    assert Minimax().d_loss(real, fake).item() == pytest.approx(expected_d)
    d_fake = torch.sigmoid(fake)
    assert Minimax().g_loss(fake).item() == pytest.approx(torch.log(1 - d_fake).mean().item())
    assert NonSaturating().g_loss(fake).item() == pytest.approx(-torch.log(d_fake).mean().item())


def test_saturating_generator_gradient_vanishes_where_nonsaturating_does_not() -> None:
    # Early in training D rejects fakes: D(G(z)) = sigmoid(s) -> 0 as s -> -inf. The saturating loss
    # log(1 - D) has gradient -sigmoid(s) -> 0 in s; the non-saturating -log D has 1 - sigmoid(s) -> 1.
    for s in (-5.0, -10.0, -20.0):
        score = torch.tensor([s], requires_grad=True)
        (grad_saturating,) = torch.autograd.grad(Minimax().g_loss(score), score)
        (grad_nonsaturating,) = torch.autograd.grad(NonSaturating().g_loss(score), score)
        assert grad_saturating.abs().item() == pytest.approx(torch.sigmoid(torch.tensor(s)).item(), rel=1e-4)
        assert grad_nonsaturating.abs().item() == pytest.approx(1 - torch.sigmoid(torch.tensor(s)).item(), rel=1e-4)
    assert grad_saturating.abs().item() < 1e-8 < 0.99 < grad_nonsaturating.abs().item()
