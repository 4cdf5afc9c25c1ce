"""conf/experiment/, the paper presets, by what they do: the dcgan preset steps as pytorch/examples' dcgan/main.py
(its exact parameter counts, its step), SNGAN's G update draws twice D's batch, WGAN's G update meets the critic as its
last update left it, real and fake go through D in the passes each paper's code uses, gan2014's D is maxout with
dropout, the command line wins over a preset, every preset value names its source and the results page's sources
table is the YAML's, and every preset trains."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from hydra.utils import instantiate

from gan_runner.arch import count_parameters
from gan_runner.bench import step as bench_step
from gan_runner.bench.reference_dcgan import plain_loop
from gan_runner.engine.build import build_parts, build_step
from gan_runner.engine.loop import train
from tests.conftest import SHRINK, TINY, make_config, options

import preset_sources  # scripts/ (tests/conftest.py puts it on sys.path)


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


def rows_seen(module: torch.nn.Module, log: list[int]) -> None:
    module.register_forward_pre_hook(lambda _, args: log.append(len(args[0])))


def one_step_of(experiment: str, *overrides: str) -> tuple[Any, Callable[[], None]]:
    """The preset's parts and its training step as typed, on 8x8 digits at tiny widths."""
    cfg = make_config(f"experiment={experiment}", *SHRINK, "dataset=digits", "dataset.resolution=8", *overrides)
    parts = build_parts(cfg)
    return parts, build_step(cfg, parts)


@pytest.mark.parametrize("experiment", ["sngan", "cgan_projection"])
def test_sngans_g_update_draws_twice_ds_batch(experiment: str) -> None:
    """SNGAN's n_gen_samples: each of the 5 D updates scores 64 real and 64 fake images (G makes 64), then G's update
    makes and scores 128, at the preset's own batch sizes. D scores real and fake in one pass: it has no batch
    statistics, so the code's two calls give the same scores."""
    parts, step = one_step_of(experiment, "train.batch_size=64", "arch.generator.width=4",
                              "arch.discriminator.width=4")
    g_rows, d_rows = [], []
    rows_seen(parts.state.G, g_rows)
    rows_seen(parts.state.D, d_rows)
    step()
    assert g_rows == [64] * 5 + [128]
    assert d_rows == [128] * 5 + [128]


def test_wgans_g_update_meets_the_critic_as_its_last_update_left_it() -> None:
    """WGAN's code clamps at the start of each critic update: every critic update starts from weights in [-c, c],
    and G's update scores fakes with the critic as the last update moved it, outside the box."""
    parts, step = one_step_of("wgan", *TINY)
    D = parts.state.D
    largest: list[float] = []
    D.register_forward_pre_hook(lambda *_: largest.append(max(p.abs().max().item() for p in D.parameters())))
    step()
    critic, generator = largest[:-1], largest[-1]
    assert len(critic) == 2 * 100  # the first G updates get 100 critic updates, real and fake in passes of their own
    assert max(critic) <= 0.01 and generator > 0.01


@pytest.mark.parametrize("experiment, g_rows, d_rows", [
    ("dcgan", [8], [8, 8, 8]),    # D(real), D(fake.detach()), then G's update on those same fakes
    ("lsgan", [8], [8, 8, 8]),    # the same batch_z feeds the D run and the G run
    ("wgan", [8] * 101, [8, 8] * 100 + [8]),  # netD(real), then netD(fake); G's update on fresh noise
    ("sngan", [8] * 5 + [128], [16] * 5 + [128]),  # no batch statistics in D: one pass
    ("gan2014", [8], [16]),       # one forward pass of real and fake gives both gradients
])
def test_real_and_fake_go_through_d_as_the_preset_says(experiment: str, g_rows: list[int],
                                                        d_rows: list[int]) -> None:
    parts, step = one_step_of(experiment, *TINY)
    seen_g, seen_d = [], []
    rows_seen(parts.state.G, seen_g)
    rows_seen(parts.state.D, seen_d)
    step()
    assert (seen_g, seen_d) == (g_rows, d_rows)


def test_gan2014s_discriminator_is_maxout_with_dropout_and_its_generator_a_sigmoid() -> None:
    from gan_runner.arch.mlp import Maxout, SigmoidToImageRange

    parts, _ = one_step_of("gan2014")
    G, D = parts.state.G, parts.state.D
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    dropouts = [m.p for m in D.modules() if isinstance(m, torch.nn.Dropout)]
    linears = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.pieces for m in maxouts] == [5, 5] and dropouts == [0.2, 0.5, 0.5]
    assert [m.out_features for m in linears] == [240 * 5, 240 * 5, 1]
    assert all(m.weight.abs().max() <= 0.005 for m in linears)  # irange .005
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    D.train()
    assert not torch.equal(D(x), D(x))  # dropout draws anew
    D.eval()
    assert torch.equal(D(x), D(x))
    assert isinstance(G.output, SigmoidToImageRange)
    with torch.no_grad():
        images = G(torch.randn(512, 100) * 100)  # pushed to saturation, the sigmoid stays in (-1, 1)
    assert images.min() >= -1 and images.max() <= 1 and (images.abs() > 0.99).any()


def test_an_override_on_the_command_line_wins_over_the_preset() -> None:
    cfg = make_config("experiment=sngan", "train.g_batch_size=null", "objective=nonsaturating", "train.n_critic=2")
    assert (cfg.train.g_batch_size, cfg.train.n_critic) == (None, 2)
    assert cfg.objective._target_.endswith("NonSaturating")
    assert make_config("experiment=gan2014", "objective=minimax").objective._target_.endswith("Minimax")
    assert make_config("experiment=fgan", "objective=fgan_kl").objective._target_ == "gan_runner.objectives.fgan.KL"
    cfg = make_config("experiment=wgan", "regulariser.clip.when=after", "latent=uniform")
    assert cfg.regulariser.clip.when == "after" and cfg.latent._target_.endswith("Uniform")


def test_every_value_a_paper_preset_sets_names_its_source() -> None:
    found = preset_sources.presets()
    assert {p.name for p in found} == set(options("experiment")) - set(preset_sources.OWN_RECIPES)
    assert preset_sources.unsourced(found) == []
    assert all(len(p.values) >= 8 for p in found)


def test_the_sources_table_on_the_results_page_is_the_yamls() -> None:
    """docs/results/presets.md's generated part is what the configs say now: rebuilt by
    `python scripts/results.py --sources-only` after a preset changes."""
    page = (Path(__file__).parents[1] / "docs" / "results" / "presets.md").read_text()
    begin, end = "<!-- preset sources: begin -->", "<!-- preset sources: end -->"
    assert page.split(begin, 1)[1].split(end, 1)[0].strip() == preset_sources.section().strip()


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


# The paired presets train on pairs: the digit tasks that need no download (srgan's VGG54 content loss needs ImageNet
# weights that are not here: its smoke test trains without it, two steps of pretraining, two adversarial).
PAIRED_DATA = {"pix2pix": ["dataset=mnist_edges"],
               "srgan": ["dataset=mnist_sr", "game.content=null", "game.content_weight=0", "game.pretrain_steps=2"],
               "cyclegan": ["dataset=mnist_digits8"]}  # game=cycle's unpaired digit task (no download)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_trains_as_a_smoke_test_with_debug_fast(tmp_path: Path, experiment: str) -> None:
    """debug=fast comes last in the defaults: it shrinks any preset (its widths, steps, batch) to seconds."""
    data = PAIRED_DATA.get(experiment, ["dataset=digits", "dataset.resolution=8"])
    cfg = make_config(f"experiment={experiment}", "debug=fast", *data)
    assert (cfg.arch.generator.width, cfg.train.steps, cfg.metrics._target_) == (8, 4, "gan_runner.metrics.NoMetric")
    assert train(cfg, tmp_path)["status"] == "completed"
