"""regularisers/: each against its closed form (gradient penalties of linear and constant critics, lazy scaling,
clipping, spectral norm, instance noise, label smoothing, orthogonality), the labels each penalty scores its
points with, and the combination warnings read from what each component declares."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.engine.build import build_parts, build_step
from gan_runner.engine.loop import train
from gan_runner.engine.step import UpdateInputs, Updates, d_step
from gan_runner.objectives.hinge import Hinge
from gan_runner.objectives.nonsaturating import NonSaturating
from gan_runner.objectives.wgan import Wasserstein
from gan_runner.regularisers import Regulariser, combination_warnings
from gan_runner.regularisers.gradient_penalty import GradientPenalty, Interpolates, OnFake, OnReal, PerturbedReal
from gan_runner.regularisers.instance_noise import InstanceNoise
from gan_runner.regularisers.label_smoothing import LabelSmoothing
from gan_runner.regularisers.orthogonal import Orthogonal, orthogonality_penalty
from gan_runner.regularisers.spectral_norm import SpectralNorm
from gan_runner.regularisers.weight_clipping import WeightClipping
from tests.conftest import SHRINK, TINY, make_config




@pytest.mark.parametrize("shape", [(16, 2), (8, 1, 4, 4)])
def test_gradient_penalty_of_a_linear_critic(shape: tuple[int, ...]) -> None:
    # D(x) = w.x + b has gradient w everywhere, so the penalty is exactly (||w|| - 1)^2, times lambda.
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(shape[1:]).prod()), 1))
    real, fake = torch.randn(shape), torch.randn(shape)
    w_norm = critic[1].weight.norm().item()
    regulariser = GradientPenalty(weight=10.0)
    term, raw = regulariser.scaled_penalty(0, lambda x, y=None: critic(x).squeeze(1), real, fake, None, None)
    assert raw.item() == pytest.approx((w_norm - 1) ** 2, rel=1e-5)
    assert term.item() == pytest.approx(10.0 * (w_norm - 1) ** 2, rel=1e-5)


def test_gradient_penalty_is_differentiable_in_the_critic() -> None:
    critic = nn.Linear(2, 1)
    penalty = GradientPenalty().penalty(lambda x, y=None: critic(x).squeeze(1), torch.randn(4, 2), torch.randn(4, 2))
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
        term, raw = regulariser.scaled_penalty(step, lambda x, y=None: critic(x).squeeze(1), real, fake, None, None)
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
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNorm(power_iterations=0)
    with pytest.raises(ValueError, match="normalises nothing"):
        SpectralNorm(discriminator=False)
    with pytest.raises(ValueError, match="real_label"):
        LabelSmoothing(real_label=1.5)
    with pytest.raises(ValueError, match="target"):
        GradientPenalty(target=-1)


def linear_critic(w: list[float], b: float = 0.3) -> nn.Module:
    critic = nn.Linear(len(w), 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([w]))
        critic.bias.fill_(b)
    return critic


def scores(critic: nn.Module):
    return lambda x, y=None: critic(x).squeeze(1)


@pytest.mark.parametrize("w, expected", [([0.3, 0.4], 0.0), ([3.0, 4.0], 16.0)])
def test_one_sided_penalty_ignores_gradients_below_the_target(w: list[float], expected: float) -> None:
    # ||w|| = 0.5 lies below 1: no penalty; ||w|| = 5: (5 - 1)^2 = 16, as the two-sided penalty.
    critic = linear_critic(w)
    penalty = GradientPenalty(one_sided=True).penalty(scores(critic), torch.randn(8, 2), torch.randn(8, 2))
    assert penalty.item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("points", [OnReal(), OnFake()])
def test_r1_and_r2_of_a_constant_critic_are_zero_and_of_a_linear_critic_its_squared_slope(points) -> None:
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    r1 = GradientPenalty(weight=5.0, target=0.0, points=points)
    constant = linear_critic([0.0, 0.0], b=1.7)
    assert r1.penalty(scores(constant), real, fake).item() == 0.0
    linear = linear_critic([3.0, 4.0])
    assert r1.penalty(scores(linear), real, fake).item() == pytest.approx(25.0)


def test_r1_takes_the_gradient_at_the_real_samples() -> None:
    # D(x) = ||x||^2 / 2 has gradient x: R1 = E_p ||x||^2 and R2 = E_q ||x||^2, each its own batch's.
    real, fake = torch.randn(16, 3), 5 * torch.randn(16, 3)
    critic = lambda x, y=None: 0.5 * x.pow(2).sum(1)  # noqa: E731
    assert GradientPenalty(target=0, points=OnReal()).penalty(critic, real, fake).item() == pytest.approx(
        real.pow(2).sum(1).mean().item(), rel=1e-5)
    assert GradientPenalty(target=0, points=OnFake()).penalty(critic, real, fake).item() == pytest.approx(
        fake.pow(2).sum(1).mean().item(), rel=1e-5)


def test_dragan_points_lie_between_real_samples_and_their_perturbation() -> None:
    torch.manual_seed(0)
    real = torch.randn(256, 2)
    points, _ = PerturbedReal(scale=0.5)(real, torch.zeros_like(real))
    offset = points - real
    assert (offset >= 0).all() and (offset <= 0.5 * real.std()).all()
    assert offset.max() > 0.4 * real.std()  # it does perturb


def test_gradient_penalty_is_finite_where_the_critic_is_flat() -> None:
    # A dead ReLU region has gradient exactly 0; the penalty's own gradient must stay finite there.
    critic = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        critic[0].bias.fill_(-100.0)
    penalty = GradientPenalty().penalty(scores(critic), torch.randn(8, 2), torch.randn(8, 2))
    penalty.backward()
    assert penalty.item() == pytest.approx(1.0)
    assert all(torch.isfinite(p.grad).all() for p in critic.parameters() if p.grad is not None)
    assert critic[0].weight.grad is not None


def small_convnet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.ConvTranspose2d(8, 4, 4, 2, 1),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 1))


def normalised_weights(model: nn.Module) -> list[torch.Tensor]:
    """Each layer's weight as the forward pass uses it, as the matrix spectral normalisation sees."""
    out = []
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            out.append(layer.weight.flatten(1))
        elif isinstance(layer, nn.ConvTranspose2d):
            out.append(layer.weight.transpose(0, 1).flatten(1))
    return out


def test_spectral_norm_makes_every_largest_singular_value_one() -> None:
    torch.manual_seed(0)
    G, D = small_convnet(), small_convnet()
    SpectralNorm(discriminator=True, generator=True, power_iterations=1).setup(G, D)
    x = torch.randn(4, 1, 4, 4)
    for _ in range(30):  # the power iteration refines u, v on each training-mode forward pass
        D(x), G(x)
    for model in (G, D):
        model.eval()
        sigmas = [torch.linalg.matrix_norm(w.detach(), ord=2).item() for w in normalised_weights(model)]
        assert len(sigmas) == 4
        assert sigmas == pytest.approx([1.0] * 4, abs=1e-2)


def test_spectral_norm_on_the_discriminator_only_by_default() -> None:
    G, D = small_convnet(), small_convnet()
    SpectralNorm().setup(G, D)
    assert hasattr(D[0], "parametrizations") and not hasattr(G[0], "parametrizations")


def test_spectral_norm_allows_separate_real_and_fake_passes_and_double_backward() -> None:
    # The in-place power-iteration update between two forward passes must not corrupt the graph of the
    # first (the classic "modified by an inplace operation" error of hook-based implementations).
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    SpectralNorm().setup(nn.Identity(), D)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    loss = Hinge().d_loss(D(real).squeeze(1), D(fake).squeeze(1))
    loss = loss + GradientPenalty().penalty(scores(D), real, fake)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())
    u = D[0].parametrizations.weight[0]._u.clone()
    D.eval()
    D(real)
    torch.testing.assert_close(D[0].parametrizations.weight[0]._u, u)  # eval mode leaves u alone


class Recorder(nn.Module):
    """A 'discriminator' that remembers its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x
        return x.sum(1)


def test_instance_noise_is_annealed_linearly_and_only_in_training() -> None:
    torch.manual_seed(0)
    D, noise = Recorder(), InstanceNoise(sigma=0.5, anneal_steps=10)
    noise.setup(nn.Identity(), D)
    x = torch.zeros(20_000, 2)
    for step in range(12):
        D(x)
        expected = 0.5 * max(0.0, 1 - step / 10)
        assert D.seen.std().item() == pytest.approx(expected, rel=0.03, abs=1e-12)
        noise.after_d_step(D)
    D.train()
    noise.load_state_dict({"d_steps": 4})
    assert noise.state_dict() == {"d_steps": 4} and noise.current_sigma == pytest.approx(0.3)
    D.eval()
    D(x)
    assert D.seen.abs().max().item() == 0.0


def test_label_smoothing_equals_cross_entropy_with_real_label_point_nine() -> None:
    real_scores, fake_scores = torch.randn(32), torch.randn(32)
    smoothing = LabelSmoothing(real_label=0.9)
    term, _ = smoothing.scaled_penalty(0, None, None, None, real_scores, fake_scores)
    smoothed = NonSaturating().d_loss(real_scores, fake_scores) + term
    bce = F.binary_cross_entropy_with_logits
    expected = bce(real_scores, torch.full_like(real_scores, 0.9)) + bce(fake_scores, torch.zeros_like(fake_scores))
    torch.testing.assert_close(smoothed, expected)


def test_orthogonal_penalty_closed_form() -> None:
    # W W^T for [[1, 2], [3, 4]] is [[5, 11], [11, 25]]: the off-diagonal squares sum to 2 x 121.
    assert orthogonality_penalty([torch.tensor([[1.0, 2.0], [3.0, 4.0]])]).item() == pytest.approx(242.0)
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    assert orthogonality_penalty([q * 3]).item() == pytest.approx(0.0, abs=1e-4)  # norms are free
    G, D = small_convnet(), small_convnet()
    regulariser = Orthogonal(weight=1e-4, every=2)
    regulariser.setup(G, D)
    term, raw = regulariser.scaled_generator_penalty(0)
    assert term.item() == pytest.approx(2e-4 * raw.item())
    assert regulariser.scaled_generator_penalty(1) == (None, None)
    assert regulariser.penalty(D, None, None, None, None) is None  # D is left alone by default
    term.backward()
    assert G[0].weight.grad is not None and D[0].weight.grad is None


def test_nonsensical_combinations_get_a_warning_that_says_why() -> None:
    clip, sn, gp = WeightClipping(), SpectralNorm(), GradientPenalty()
    (message,) = combination_warnings(Wasserstein(), {"clip": clip, "spectral_norm": sn})
    assert "clipping" in message and "spectral normalisation" in message
    assert "Lipschitz" in combination_warnings(Wasserstein(), {})[0]
    assert "gradient penalty" in combination_warnings(Wasserstein(), {"clip": clip, "gp": gp})[0]
    assert "cross-entropy" in combination_warnings(Hinge(), {"ls": LabelSmoothing()})[0]
    assert combination_warnings(Hinge(), {"spectral_norm": sn}) == []
    assert combination_warnings(NonSaturating(), {"ls": LabelSmoothing(), "r1": GradientPenalty(target=0)}) == []


def test_orthogonal_regularisation_leaves_lookup_tables_out() -> None:
    """Class embeddings' rows are classes, not output units: BigGAN keeps its shared embedding out of the penalty."""
    from gan_runner.arch.biggan import Generator
    from gan_runner.regularisers.orthogonal import layer_weights

    G = Generator(z_dim=16, data_shape=(1, 8, 8), num_classes=10, width=8, shared_dim=8)
    weights = {id(p) for p in layer_weights(G)}
    assert id(G.shared.weight) not in weights
    assert all(id(p) not in weights for m in G.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    assert any(id(m.weight) in weights for m in G.modules() if isinstance(m, torch.nn.Conv2d))


def test_a_penalty_with_a_batch_normalised_d_warns_and_names_the_fix(tmp_path: Path) -> None:
    common = [*SHRINK, *TINY, "dataset.resolution=16", "regulariser=[gp,r1]"]
    (warning,) = train(make_config(*common), tmp_path / "batch")["warnings"]
    assert "gp, r1 with a batch-normalised discriminator" in warning and "arch.discriminator.norm=layer" in warning
    assert train(make_config(*common, "arch.discriminator.norm=layer"), tmp_path / "layer")["warnings"] == []


@pytest.mark.parametrize("penalty", [
    GradientPenalty(target=0, points=OnReal()), GradientPenalty(target=0, points=OnFake()),
    GradientPenalty(target=1, points=PerturbedReal()), GradientPenalty(target=0, points=Interpolates()),
])
def test_wgan_with_a_penalty_that_is_no_lipschitz_constraint_is_warned(penalty: GradientPenalty) -> None:
    (message,) = combination_warnings(Wasserstein(), {"p": penalty})
    assert "without a Lipschitz constraint" in message


@pytest.mark.parametrize("constraint", [GradientPenalty(), SpectralNorm(), WeightClipping()])
def test_wgan_with_a_lipschitz_constraint_is_not_warned(constraint: object) -> None:
    assert combination_warnings(Wasserstein(), {"c": constraint}) == []


class LabelRecorder(nn.Module):
    """A conditional critic that remembers the labels of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2))
        self.calls: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(y)
        return x.flatten(1) @ self.weight + y.float()


@pytest.mark.parametrize("points, side", [(OnFake(), "fake"), (OnReal(), "real"), (Interpolates(), "real")])
def test_penalties_score_their_points_with_the_matching_labels(points: object, side: str) -> None:
    D, G = LabelRecorder(), nn.Identity()
    batch = UpdateInputs(torch.randn(4, 2), torch.tensor([0, 1, 2, 3]), torch.randn(4, 2), torch.tensor([7, 7, 8, 8]))
    G.forward = lambda z, y=None: z  # noqa: E731
    optimiser = torch.optim.SGD(D.parameters(), lr=0.0)
    d_step(Updates(G, D, Hinge(), {"r": GradientPenalty(target=0, points=points)}), optimiser, batch, 0)
    expected = batch.fake_labels if side == "fake" else batch.real_labels
    assert torch.equal(D.calls[-1], expected)


@pytest.mark.parametrize("when", ["before", "after"])
def test_weight_clipping_before_the_critic_step_leaves_gs_critic_unclamped(when: str) -> None:
    """WGAN's code clamps at the top of each critic iteration: G's update then scores the critic as its last update
    left it, some weights beyond c; Algorithm 1 clamps after the update, so G sees every weight within c."""
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "objective=wgan", "regulariser=clip", "train.n_critic=2",
                      f"regulariser.clip.when={when}", "train.lr_d=0.05")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    seen = []
    parts.state.D.register_forward_pre_hook(
        lambda module, args: seen.append(max(p.detach().abs().max().item() for p in module.parameters())))
    step()
    largest_in_g_update = seen[-1]  # D's forward in G's update
    assert (largest_in_g_update > 0.01) is (when == "before")
