"""dataset=gauss1d, the generator's latent (normal or uniform), and the picture of Goodfellow et al. (2014)'s
Figure 1: its D* = p / (p + q) is the discriminator a trained D really approaches."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch import nn

from gan_runner.arch.mlp import Discriminator
from gan_runner.engine.build import build, networks
from gan_runner.run_directory import upgrade
from gan_runner.errors import UserError
from gan_runner.data.gauss1d import Gaussian1D, kde_density, normal_density, optimal_discriminator
from gan_runner.latent import StandardNormal, Uniform
from gan_runner.objectives.minimax import Minimax
from gan_runner.objectives.wgan import Wasserstein
from gan_runner.commands.sample import load_generator
from gan_runner.engine.sampling import draw
from gan_runner.engine.step import InputStream
from gan_runner.engine.loop import train
from tests.conftest import make_config

torch.set_num_threads(1)


def test_samples_have_the_configured_mean_and_std() -> None:
    x, labels = Gaussian1D(mean=4.0, std=0.5).sample(40_000, torch.Generator().manual_seed(0))
    assert x.shape == (40_000, 1) and labels is None
    # Standard errors: 0.5 / sqrt(n) = 0.0025 for the mean, 0.5 / sqrt(2n) = 0.0018 for the std; 4 of them.
    assert x.mean().item() == pytest.approx(4.0, abs=0.01)
    assert x.std().item() == pytest.approx(0.5, abs=0.008)


def test_batches_are_fresh_and_a_resumed_order_skips_exactly() -> None:
    data = Gaussian1D()
    order = data.batches(16, torch.Generator().manual_seed(3))
    first, second, third = (next(order)[0] for _ in range(3))
    assert not torch.equal(first, second)
    resumed = next(data.batches(16, torch.Generator().manual_seed(3), start=2))[0]
    torch.testing.assert_close(resumed, third)


def test_uniform_noise_is_uniform_and_normal_noise_is_normal() -> None:
    rng = torch.Generator().manual_seed(0)
    uniform = Uniform().sample(100_000, 1, generator=rng)
    assert uniform.min() >= -1 and uniform.max() <= 1
    counts = torch.histc(uniform, bins=10, min=-1, max=1) / len(uniform)
    assert (counts - 0.1).abs().max() < 0.005  # flat: each tenth of [-1, 1] holds a tenth (sd 0.001)
    normal = StandardNormal().sample(100_000, 1, generator=rng)
    assert normal.mean().item() == pytest.approx(0, abs=0.015) and normal.std().item() == pytest.approx(1, abs=0.01)
    assert (normal.abs() > 1).float().mean().item() == pytest.approx(0.3173, abs=0.005)  # 2 (1 - Phi(1))
    assert normal.abs().max() > 3  # tails a uniform never has
    torch.testing.assert_close(StandardNormal().quantile(torch.tensor([0.5, 0.975])), torch.tensor([0.0, 1.95996]))
    torch.testing.assert_close(Uniform(-1, 1).quantile(torch.tensor([0.0, 0.25, 1.0])), torch.tensor([-1.0, -0.5, 1.0]))
    torch.testing.assert_close(Uniform(2, 4).quantile(torch.tensor([0.0, 0.5])), torch.tensor([2.0, 3.0]))
    with pytest.raises(ValueError, match="latent.low must be below latent.high"):
        Uniform(1, -1)


def test_the_default_latent_draws_what_torch_randn_draws() -> None:
    """Runs that keep latent=normal draw the numbers they drew before the option existed."""
    torch.testing.assert_close(StandardNormal().sample(5, 3, torch.Generator().manual_seed(1)),
                               torch.randn(5, 3, generator=torch.Generator().manual_seed(1)))


class Identity(nn.Module):
    """A 'generator' that returns its z, to see the noise each consumer draws."""

    def __init__(self, latent: object) -> None:
        super().__init__()
        self.latent = latent
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return z


def test_the_training_batches_and_gan_sample_draw_the_generators_latent() -> None:
    data = Gaussian1D().batches(4096, torch.Generator().manual_seed(0))
    z = InputStream(data, 2, None, torch.device("cpu"), Uniform()).next().z
    assert z.min() >= -1 and z.max() <= 1 and z.std() < 0.65  # U(-1, 1) has sd 0.577, N(0, 1) has sd 1
    assert draw(Identity(Uniform()), 1, 4096).abs().max() <= 1
    assert draw(Identity(StandardNormal()), 1, 4096).abs().max() > 2
    cfg = make_config("dataset=gauss1d")
    assert cfg.latent._target_.endswith("Uniform") and cfg.z_dim == 1 and cfg.objective._target_.endswith("Minimax")
    G, _, _ = networks(cfg, (1,), None)
    assert isinstance(G.latent, Uniform) and (G.latent.low, G.latent.high) == (-1, 1)
    assert isinstance(networks(make_config("dataset=gauss1d", "latent=normal"), (1,), None)[0].latent, StandardNormal)
    assert isinstance(networks(make_config("dataset=ring8", "latent=uniform", "latent.low=0"), (2,), None)[0].latent, Uniform)


def test_configs_saved_before_the_latent_group_still_build() -> None:
    """gan-sample, gan-eval and resume read a run's saved config through run_directory.upgrade: older ones name the
    latent, or lack the key."""
    saved = OmegaConf.to_container(make_config("dataset=gauss1d"))

    def latent_of(config: dict) -> object:
        return build(OmegaConf.create(upgrade("config", config)), "latent")

    saved["latent"] = "uniform"
    assert isinstance(latent_of(saved), Uniform)
    del saved["latent"]
    assert isinstance(latent_of(saved), StandardNormal)
    saved["latent"] = "gaussian"
    with pytest.raises(UserError, match="latent='gaussian', which is not an option of the latent group"):
        latent_of(saved)


def test_a_short_run_writes_the_pictures_and_a_gif_of_them(tmp_path: Path) -> None:
    cfg = make_config("dataset=gauss1d", "train.steps=20", "train.sample_every=5", "train.log_every=5",
                      "train.checkpoint_every=20", "train.device=cpu", "logger=none")
    assert train(cfg, tmp_path)["status"] == "completed"
    pictures = sorted(p.name for p in (tmp_path / "samples").glob("step_*.png"))
    assert pictures == [f"step_{step:06d}.png" for step in (5, 10, 15, 20)]
    frame = Image.open(tmp_path / "samples" / pictures[0])
    with Image.open(tmp_path / "samples" / "training.gif") as gif:
        assert gif.n_frames == len(pictures) and gif.size == frame.size
    generator, z_dim = load_generator(tmp_path)
    assert z_dim == 1 and isinstance(generator.latent, Uniform)  # gan-sample draws the noise G was trained on


class ShiftedGaussian(nn.Module):
    """A fixed generator whose samples are N(mean, std) exactly: x = mean + std z with z ~ N(0, 1)."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std, self.latent = mean, std, StandardNormal()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.mean + self.std * z


def trained_discriminator(data: Gaussian1D, fake: ShiftedGaussian, steps: int = 1500) -> nn.Module:
    """D trained alone with the minimax loss against the fixed generator, towards its optimum."""
    torch.manual_seed(0)
    D = Discriminator((1,), depth=2, width=64, activation=lambda: nn.LeakyReLU(0.2))
    optimiser = torch.optim.Adam(D.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.LinearLR(optimiser, 1.0, 0.05, steps)  # ends quiet: less batch noise
    rng = torch.Generator().manual_seed(1)
    for _ in range(steps):
        real, _ = data.sample(1024, rng)
        generated = fake(torch.randn(1024, 1, generator=rng))
        loss = Minimax().d_loss(D(real), D(generated))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return D


def test_a_discriminator_trained_against_a_fixed_generator_approaches_p_over_p_plus_q() -> None:
    data, fake = Gaussian1D(4.0, 0.5), ShiftedGaussian(3.5, 0.8)
    D = trained_discriminator(data, fake)
    x = torch.linspace(1.0, 7.0, 241)
    p, q = data.density(x), normal_density(x, 3.5, 0.8)
    # Where p + q is small, few samples fall and D is barely trained there (in the tails the error is 0.1 to
    # 0.4 after 1,500 steps, as D's score extrapolates linearly); the check is where both put mass.
    informative = (p + q) > 0.1
    with torch.no_grad():
        d = torch.sigmoid(D(x[:, None]))
    error = (d - p / (p + q))[informative].abs().max().item()
    assert error < 0.05, f"max |sigmoid(D) - p/(p+q)| = {error:.3f}"
    # The check can fail: the optimum for another generator is far from this D.
    other = data.density(x) / (data.density(x) + normal_density(x, 4.5, 0.8))
    assert (d - other)[informative].abs().max().item() > 0.3


def test_optimal_discriminator_is_p_over_p_plus_q() -> None:
    p, q = torch.tensor([1.0, 0.0, 0.3, 0.0]), torch.tensor([1.0, 2.0, 0.1, 0.0])
    d = optimal_discriminator(p, q)
    torch.testing.assert_close(d[:3], torch.tensor([0.5, 0.0, 0.75]))
    assert math.isnan(d[3].item())  # p + q = 0: undefined, drawn as a gap


def test_the_pictures_d_star_is_that_of_the_true_densities_and_its_d_is_a_probability() -> None:
    data, fake = Gaussian1D(4.0, 0.5, view=(1.0, 7.0)), ShiftedGaussian(3.5, 0.8)
    D = trained_discriminator(data, fake, steps=50)

    def sample(n: int):
        yield fake(torch.randn(n, 1, generator=torch.Generator().manual_seed(2)))

    curves = data.curves(fake, D, Minimax(), 1, sample)
    true_q = normal_density(curves.x, 3.5, 0.8)
    assert (curves.q - true_q).abs().max() < 0.03  # the KDE of 5,000 samples
    truth = curves.p / (curves.p + true_q)
    informative = (curves.p + true_q) > 0.05
    assert (curves.d_optimal - truth)[informative].abs().max() < 0.03
    torch.testing.assert_close(curves.d_optimal, optimal_discriminator(curves.p, curves.q), equal_nan=True)
    with torch.no_grad():
        scores = D(curves.x[:, None])
    torch.testing.assert_close(curves.d, torch.sigmoid(scores))
    torch.testing.assert_close(curves.mapping[1], fake(curves.mapping[0]).flatten())
    # A Wasserstein critic's score is not a probability: drawn raw, with no D*.
    critic = data.curves(fake, D, Wasserstein(), 1, sample)
    assert critic.d_optimal is None and not critic.d_is_probability
    torch.testing.assert_close(critic.d, scores)
    fixed = (torch.zeros(64, 1), None)
    both = [data.picture(fake, D, objective, fixed, sample, 7) for objective in (Minimax(), Wasserstein())]
    assert both[0].shape == both[1].shape and both[0].shape[-1] == 3 and both[0].dtype == np.uint8


def test_kde_of_a_collapsed_generator_is_finite() -> None:
    density = kde_density(torch.linspace(-1, 1, 9), torch.full((100,), 0.25), min_bandwidth=0.01)
    assert torch.isfinite(density).all() and density.max() > 10
