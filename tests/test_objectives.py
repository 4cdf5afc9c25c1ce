"""objectives/: each objective against its closed form, and a new objective that declares what it is needs no
edit elsewhere."""

from __future__ import annotations

import math

import pytest
import torch

from gan_runner.objectives import Objective
from gan_runner.objectives.fgan import JensenShannon, KL, Neyman, OriginalGAN, Pearson, ReverseKL, SquaredHellinger
from gan_runner.objectives.hinge import Hinge
from gan_runner.objectives.lsgan import LeastSquares
from gan_runner.objectives.minimax import Minimax
from gan_runner.objectives.nonsaturating import NonSaturating
from gan_runner.objectives.relativistic import RaHinge, RaLSGAN, RaSGAN
from gan_runner.objectives.wgan import Wasserstein
from gan_runner.regularisers import combination_warnings
from gan_runner.regularisers.label_smoothing import LabelSmoothing
from tests.conftest import CONF

import fgan_divergences  # scripts/ (tests/conftest.py puts it on sys.path)


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


FGANS = {"kl": KL, "reverse_kl": ReverseKL, "pearson": Pearson, "neyman": Neyman,
         "hellinger": SquaredHellinger, "js": JensenShannon, "gan": OriginalGAN}


def test_every_fgan_yaml_is_tested_here() -> None:
    assert {p.stem.removeprefix("fgan_") for p in (CONF / "objective").glob("fgan_*.yaml")} == set(FGANS)


@pytest.mark.parametrize("name", FGANS)
def test_fgan_conjugate_is_the_fenchel_conjugate_of_f(name: str) -> None:
    # At t = f'(u) the supremum in f*(t) = sup_u ut - f(u) is attained, so f*(f'(u)) = u f'(u) - f(u).
    objective = FGANS[name]()
    u = torch.tensor([0.05, 0.3, 0.9, 1.0, 2.0, 7.0], dtype=torch.float64)
    t = objective.f_prime(u)
    torch.testing.assert_close(objective.conjugate(t), u * t - objective.f(u))
    # f(1) = 0: a divergence of a distribution from itself is zero; the GAN's f is 2 JS - log 4.
    expected = -math.log(4) if name == "gan" else 0.0
    assert objective.f(torch.ones(1, dtype=torch.float64)).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", FGANS)
def test_fgan_stable_composition_equals_conjugate_of_activation(name: str) -> None:
    objective = FGANS[name]()
    v = torch.linspace(-4, 0.6, 47, dtype=torch.float64)  # inside every f*'s domain after g_f
    torch.testing.assert_close(objective.conjugate_of_activation(v), objective.conjugate(objective.activation(v)))


@pytest.mark.parametrize("name", FGANS)
def test_fgan_optimal_critic_is_f_prime_of_the_density_ratio(name: str) -> None:
    # Minimising d_loss pointwise gives T*(x) = g_f(v*(x)) = f'(p(x)/q(x)), and the bound it reaches
    # is the divergence itself, sum_x q(x) f(p(x)/q(x)).
    objective = FGANS[name]()
    scores = optimal_scores(objective, P_COUNTS, Q_COUNTS, steps=3000)
    ratio = P / Q
    torch.testing.assert_close(objective.activation(scores), objective.f_prime(ratio), atol=2e-2, rtol=1e-2)
    bound = -objective.d_loss(scores[torch.repeat_interleave(torch.arange(4), torch.tensor(P_COUNTS))],
                              scores[torch.repeat_interleave(torch.arange(4), torch.tensor(Q_COUNTS))])
    assert bound.item() == pytest.approx((Q * objective.f(ratio)).sum().item(), abs=2e-3)


def test_fgan_gan_is_the_minimax_and_nonsaturating_gan() -> None:
    real, fake = torch.randn(9), torch.randn(9)
    torch.testing.assert_close(OriginalGAN().d_loss(real, fake), Minimax().d_loss(real, fake))
    torch.testing.assert_close(OriginalGAN().g_loss(fake), NonSaturating().g_loss(fake))
    # With saturating_generator the generator minimises E_q[log(1 - D)], as objective=minimax does.
    torch.testing.assert_close(OriginalGAN(saturating_generator=True).g_loss(fake), Minimax().g_loss(fake))


@pytest.mark.parametrize("name, closed_form", [("kl", 0.5), ("hellinger", 2 * (1 - math.exp(-1 / 8)))])
def test_fgan_critic_trained_on_samples_estimates_the_divergence(name: str, closed_form: float) -> None:
    # Nowozin et al., section 4: D_f(N(0,1) || N(1,1)) from a critic trained on samples (the script
    # prints all seven; KL = 0.5 and squared Hellinger = 2(1 - e^{-1/8}) in closed form).
    objective = FGANS[name]()
    assert fgan_divergences.divergence_by_quadrature(objective) == pytest.approx(closed_form, rel=1e-6)
    estimate = fgan_divergences.estimate_divergence(objective, steps=600, batch=512, eval_samples=200_000)
    assert estimate == pytest.approx(closed_form, rel=0.10)


REAL, FAKE = [2.0, 0.5, -1.0], [-2.0, 0.0, 1.5]


def relative(real: list[float], fake: list[float]) -> tuple[list[float], list[float]]:
    """C(x_r) - mean C(x_f) and C(x_f) - mean C(x_r), by hand."""
    mean_real, mean_fake = sum(real) / len(real), sum(fake) / len(fake)
    return [r - mean_fake for r in real], [f - mean_real for f in fake]


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_relativistic_standard_loss_closed_form() -> None:
    r, f = relative(REAL, FAKE)
    expected_d = -mean(math.log(sigmoid(x)) for x in r) - mean(math.log(1 - sigmoid(x)) for x in f)
    expected_g = -mean(math.log(sigmoid(x)) for x in f) - mean(math.log(1 - sigmoid(x)) for x in r)
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    assert RaSGAN().d_loss(real, fake).item() == pytest.approx(expected_d)
    assert RaSGAN().g_loss(fake, real).item() == pytest.approx(expected_g)


def test_relativistic_least_squares_loss_closed_form() -> None:
    r, f = relative(REAL, FAKE)  # mean real = 0.5, mean fake = -1/6
    expected_d = mean((x - 1) ** 2 for x in r) + mean((x + 1) ** 2 for x in f)
    expected_g = mean((x - 1) ** 2 for x in f) + mean((x + 1) ** 2 for x in r)
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    assert RaLSGAN().d_loss(real, fake).item() == pytest.approx(expected_d)
    assert RaLSGAN().g_loss(fake, real).item() == pytest.approx(expected_g)


def test_relativistic_hinge_loss_closed_form() -> None:
    r, f = relative(REAL, FAKE)
    expected_d = mean(max(0, 1 - x) for x in r) + mean(max(0, 1 + x) for x in f)
    expected_g = mean(max(0, 1 - x) for x in f) + mean(max(0, 1 + x) for x in r)
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    assert RaHinge().d_loss(real, fake).item() == pytest.approx(expected_d)
    assert RaHinge().g_loss(fake, real).item() == pytest.approx(expected_g)
    # A hand check of one term: real 2.0 is 2 + 1/6 above the mean fake, so its hinge is 0.
    assert r[0] == pytest.approx(2 + 1 / 6)


def test_relativistic_losses_are_unchanged_by_a_common_shift_and_need_real_scores() -> None:
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    for objective in (RaSGAN(), RaLSGAN(), RaHinge()):
        assert objective.g_needs_real_scores
        torch.testing.assert_close(objective.d_loss(real + 3, fake + 3), objective.d_loss(real, fake))
        with pytest.raises(ValueError, match="real samples' scores"):
            objective.g_loss(fake)


def test_a_new_objective_declares_what_it_is_and_needs_no_edit_elsewhere() -> None:
    class MyLogistic(Objective):
        logistic = True

    class MyCritic(Objective):
        needs_lipschitz_critic = True

    assert combination_warnings(MyLogistic(), {"ls": LabelSmoothing()}) == []
    assert combination_warnings(JensenShannon(), {"ls": LabelSmoothing()}) == []  # softplus losses, up to log 4
    assert "cross-entropy" in combination_warnings(Hinge(), {"ls": LabelSmoothing()})[0]
    assert "Lipschitz" in combination_warnings(MyCritic(), {})[0]
