"""Regularisers against closed forms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_runner.regularisers import Regulariser
from gan_runner.regularisers.gradient_penalty import GradientPenalty
from gan_runner.regularisers.weight_clipping import WeightClipping


@pytest.mark.parametrize("shape", [(16, 2), (8, 1, 4, 4)])
def test_gradient_penalty_of_a_linear_critic(shape: tuple[int, ...]) -> None:
    # D(x) = w.x + b has gradient w everywhere, so the penalty is exactly (||w|| - 1)^2, times lambda.
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(shape[1:]).prod()), 1))
    real, fake = torch.randn(shape), torch.randn(shape)
    w_norm = critic[1].weight.norm().item()
    regulariser = GradientPenalty(weight=10.0)
    term, raw = regulariser.scaled_penalty(0, lambda x: critic(x).squeeze(1), real, fake)
    assert raw.item() == pytest.approx((w_norm - 1) ** 2, rel=1e-5)
    assert term.item() == pytest.approx(10.0 * (w_norm - 1) ** 2, rel=1e-5)


def test_gradient_penalty_is_differentiable_in_the_critic() -> None:
    critic = nn.Linear(2, 1)
    penalty = GradientPenalty().penalty(lambda x: critic(x).squeeze(1), torch.randn(4, 2), torch.randn(4, 2))
    penalty.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    w = critic.weight.detach()
    torch.testing.assert_close(critic.weight.grad, 2 * (w.norm() - 1) * w / w.norm())


def test_lazy_regularisation_runs_every_k_steps_scaled_by_k() -> None:
    critic = nn.Linear(2, 1)
    regulariser = GradientPenalty(weight=2.0, every=4)
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    expected = (critic.weight.norm().item() - 1) ** 2
    for step in range(8):
        term, raw = regulariser.scaled_penalty(step, lambda x: critic(x).squeeze(1), real, fake)
        if step % 4:
            assert term is None and raw is None
        else:
            assert term.item() == pytest.approx(2.0 * 4 * expected, rel=1e-5)


def test_weight_clipping_bounds_every_weight() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(100)
    WeightClipping(clip_value=0.01).after_d_step(critic)
    for p in critic.parameters():
        assert p.abs().max().item() <= 0.01
    assert max(p.abs().max().item() for p in critic.parameters()) == pytest.approx(0.01)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="every"):
        Regulariser(every=0)
    with pytest.raises(ValueError, match="clip_value"):
        WeightClipping(clip_value=0)
