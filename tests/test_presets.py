"""conf/experiment/, the paper presets: the dcgan preset is pytorch/examples' dcgan/main.py (its values, its exact
parameter counts, its step), the others set what their papers set, every preset composes and trains."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from gan_runner.arch import count_parameters
from gan_runner.bench import step as bench_step
from gan_runner.bench.reference_dcgan import plain_loop
from gan_runner.engine.build import build_parts, build_step
from gan_runner.engine.loop import train
from tests.conftest import SHRINK, TINY, make_config, options


# pytorch/examples' dcgan/main.py at --imageSize 64 --nz 100 --ngf 64 --ndf 64 with 3 channels (no convolution
# has a bias there): counted by hand from its layers, and printed by the example's own networks.
EXAMPLES_G, EXAMPLES_D = 3_576_704, 2_765_568


def test_dcgan_preset_is_the_pytorch_example() -> None:
    cfg = make_config("experiment=dcgan")
    assert cfg.arch.generator._target_ == "gan_runner.arch.dcgan.Generator"
    assert cfg.objective._target_ == "gan_runner.objectives.nonsaturating.NonSaturating"
    assert dict(cfg.regulariser) == {}
    assert (cfg.z_dim, cfg.dataset.resolution, cfg.train.batch_size, cfg.train.n_critic) == (100, 64, 64, 1)
    assert (cfg.train.lr_g, cfg.train.lr_d, list(cfg.train.betas), cfg.train.ema) == (2e-4, 2e-4, [0.5, 0.999], 0.0)
    assert (cfg.arch.generator.width, cfg.arch.discriminator.width, cfg.arch.discriminator.norm) == (64, 64, "batch")


def test_dcgan_preset_has_the_examples_parameter_counts_at_64x64_rgb() -> None:
    cfg = make_config("experiment=dcgan")
    G = instantiate(cfg.arch.generator, z_dim=cfg.z_dim, data_shape=(3, 64, 64), num_classes=None)
    D = instantiate(cfg.arch.discriminator, data_shape=(3, 64, 64), num_classes=None)
    assert (count_parameters(G), count_parameters(D)) == (EXAMPLES_G, EXAMPLES_D)
    convolutions = [m for m in [*G.modules(), *D.modules()]
                    if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(convolutions) == 10 and all(m.bias is None for m in convolutions)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules()) == 4
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == 3  # none after the first layer
    assert isinstance(D.net[1], torch.nn.LeakyReLU) and D.net[1].negative_slope == 0.2


def test_dcgan_preset_trains_on_digits_as_typed(tmp_path: Path) -> None:
    """The default dataset (digits) upsampled to 64x64; widths shrunk, since a full-width step takes ~2 s here."""
    cfg = make_config("experiment=dcgan", *SHRINK, *TINY)
    assert cfg.dataset.resolution == 64
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["step"] == 2
    grid = tmp_path / "samples" / "step_000002.png"
    assert grid.is_file()


def test_bench_step_measures_both_loops_in_every_precision() -> None:
    # A smoke test of the benchmark (its numbers are not asserted: speed lives in scripts, not tests). The peak
    # memory is an RSS delta on the CPU, which may be slightly negative when memory is returned.
    for loop in ("plain", "gan-runner"):
        for precision in ("fp32", "bf16"):
            row = bench_step.measure(loop, "cpu", precision, "eager", resolution=8, batch_size=4, iters=1, warmup=1,
                                     overrides=tuple(TINY))
            assert row["it_s"] > 0 and isinstance(row["peak_mib"], float)


def test_dcgan_preset_steps_as_pytorch_examples_loop() -> None:
    """From the same weights, real batches and noise, three iterations of the preset's step as the loop calls it (D on
    real and on fake in passes of their own, G's update on the same fakes) leave G and D where pytorch/examples' loop
    leaves them: no G forward and no batch norm pass more or less."""
    cfg = bench_step.preset_config(16, tuple(TINY))
    cfg.train.batch_size, cfg.train.device = 8, "cpu"
    parts = build_parts(cfg)
    G, D = parts.state.G, parts.state.D
    start = {name: value.clone() for name, value in {**G.state_dict(), **D.state_dict()}.items()}
    real = list(torch.rand(3, 8, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    G_plain, D_plain = copy.deepcopy(G), copy.deepcopy(D)
    plain = plain_loop(G_plain, D_plain, cfg, torch.device("cpu"), "fp32", "eager", iter(real))
    step = build_step(cfg, parts)
    step.inputs.data = iter([(batch.contiguous(memory_format=torch.channels_last), None) for batch in real])
    for iteration in (plain, step):
        torch.manual_seed(1)
        for _ in real:
            iteration()
    for theirs, ours in ((G_plain, G), (D_plain, D)):
        state = ours.state_dict()
        assert any(not torch.equal(value, start[key]) for key, value in state.items())  # they trained
        for key, value in theirs.state_dict().items():
            assert torch.allclose(value.float(), state[key].float(), rtol=1e-4, atol=1e-5), key


def optimisers(*overrides: str) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    from gan_runner.engine.build import build_parts

    state = build_parts(make_config(*overrides, *SHRINK, "dataset=digits", *TINY)).state
    return state.opt_g, state.opt_d


def test_the_optimizer_group_reaches_each_network() -> None:
    opt_g, opt_d = optimisers()
    assert type(opt_g) is type(opt_d) is torch.optim.Adam and opt_d.defaults["betas"] == (0.5, 0.999)
    opt_g, opt_d = optimisers("optimizer@optimizer.d=rmsprop", "train.lr_d=3e-4", "train.lr_g=1e-4")
    assert type(opt_g) is torch.optim.Adam and type(opt_d) is torch.optim.RMSprop
    assert (opt_g.defaults["lr"], opt_d.defaults["lr"], opt_d.defaults["momentum"]) == (1e-4, 3e-4, 0.0)
    opt_g, _ = optimisers("optimizer@optimizer.g=adamw", "train.betas=[0,0.9]")
    assert type(opt_g) is torch.optim.AdamW and opt_g.defaults["betas"] == (0.0, 0.9)  # floats, as Adam needs


def test_wgan_preset_is_algorithm_1() -> None:
    cfg = make_config("experiment=wgan")
    assert cfg.optimizer.g._target_ == cfg.optimizer.d._target_ == "torch.optim.RMSprop"
    train_cfg = cfg.train
    assert (train_cfg.lr_g, train_cfg.lr_d, train_cfg.n_critic, cfg.regulariser.clip.clip_value) == (5e-5, 5e-5, 5, 0.01)
    _, opt_d = optimisers("experiment=wgan")
    assert type(opt_d) is torch.optim.RMSprop and opt_d.defaults["lr"] == 5e-5


def test_wgan_gp_and_gan2014_presets_are_their_papers() -> None:
    cfg = make_config("experiment=wgan_gp")
    gp = cfg.regulariser.gp
    assert (gp.weight, gp.one_sided, cfg.arch.discriminator.norm) == (10.0, False, "layer")
    assert (cfg.train.lr_g, list(cfg.train.betas), cfg.train.n_critic) == (1e-4, [0.0, 0.9], 5)
    cfg = make_config("experiment=gan2014")
    assert cfg.objective._target_.endswith("Minimax") and cfg.optimizer.d._target_ == "torch.optim.SGD"
    # The paper's non-saturating variant and an f-GAN's divergence are chosen on the command line, over the preset.
    assert make_config("experiment=gan2014", "objective=nonsaturating").objective._target_.endswith("NonSaturating")
    assert make_config("experiment=fgan").objective._target_ == "gan_runner.objectives.fgan.OriginalGAN"
    assert make_config("experiment=fgan", "objective=fgan_kl").objective._target_ == "gan_runner.objectives.fgan.KL"


def test_ema_start_keeps_the_average_equal_to_g_until_then() -> None:
    from gan_runner.engine.state import EMA

    G = torch.nn.Linear(2, 2)
    ema = EMA(G, decay=0.9, rampup=None, start=3)
    for step in range(1, 4):
        with torch.no_grad():
            G.weight.add_(1.0)
        ema.update(G, step)
        assert torch.equal(ema.model.weight, G.weight)
    previous = ema.model.weight.clone()
    with torch.no_grad():
        G.weight.add_(1.0)
    ema.update(G, 4)
    assert torch.allclose(ema.model.weight, 0.9 * previous + 0.1 * G.weight)


def test_biggan_lite_preset_is_the_papers_recipe() -> None:
    cfg = make_config("experiment=biggan_lite")
    assert cfg.arch.generator._target_ == "gan_runner.arch.biggan.Generator" and cfg.conditional is True
    assert set(cfg.regulariser) == {"spectral_norm", "orthogonal"} and cfg.regulariser.spectral_norm.generator
    assert (cfg.train.lr_g, cfg.train.lr_d, cfg.train.n_critic, list(cfg.train.betas)) == (5e-5, 2e-4, 2, [0.0, 0.999])
    assert (cfg.train.ema, cfg.train.ema_start, cfg.z_dim) == (0.9999, 20000, 120)


def test_the_experiment_presets_compose_as_their_papers_say() -> None:
    sngan_cfg = make_config("experiment=sngan")
    assert sngan_cfg.arch.generator._target_ == "gan_runner.arch.resnet.Generator"
    assert sngan_cfg.objective._target_.endswith("Hinge") and set(sngan_cfg.regulariser) == {"spectral_norm"}
    train_cfg = sngan_cfg.train
    assert (train_cfg.n_critic, train_cfg.lr_end_factor, list(train_cfg.betas)) == (5, 0.0, [0.0, 0.9])
    sagan_cfg = make_config("experiment=sagan")
    assert sagan_cfg.arch.discriminator._target_ == "gan_runner.arch.sagan.Discriminator"
    assert sagan_cfg.regulariser.spectral_norm.generator is True
    assert (sagan_cfg.train.lr_g, sagan_cfg.train.lr_d) == (1e-4, 4e-4)
    assert make_config("experiment=cgan_digits").conditional is True


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_trains_as_a_smoke_test_with_debug_fast(tmp_path: Path, experiment: str) -> None:
    """debug=fast comes last in the defaults: it shrinks any preset (its widths, steps, batch) to seconds."""
    cfg = make_config(f"experiment={experiment}", "debug=fast", "dataset=digits", "dataset.resolution=8")
    assert (cfg.arch.generator.width, cfg.train.steps, cfg.metrics._target_) == (8, 4, "gan_runner.metrics.NoMetric")
    assert train(cfg, tmp_path)["status"] == "completed"
