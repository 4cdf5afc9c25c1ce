"""The dcgan preset is pytorch/examples' dcgan/main.py: its values, its exact parameter counts, and it trains."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate

from gan_runner.arch import count_parameters
from gan_runner.train import train
from tests.conftest import SHRINK, TINY_ARCH, load_script, make_config

# pytorch/examples' dcgan/main.py at --imageSize 64 --nz 100 --ngf 64 --ndf 64 with 3 channels (no convolution
# has a bias there): counted by hand from its layers, and printed by the example's own networks.
EXAMPLES_G, EXAMPLES_D = 3_576_704, 2_765_568


def test_dcgan_preset_is_the_pytorch_example() -> None:
    cfg = make_config("+experiment=dcgan")
    assert cfg.arch.generator._target_ == "gan_runner.arch.dcgan.Generator"
    assert cfg.objective._target_ == "gan_runner.objectives.nonsaturating.NonSaturating"
    assert dict(cfg.regulariser) == {}
    assert (cfg.z_dim, cfg.dataset.resolution, cfg.train.batch_size, cfg.train.n_critic) == (100, 64, 64, 1)
    assert (cfg.train.lr_g, cfg.train.lr_d, list(cfg.train.betas), cfg.train.ema) == (2e-4, 2e-4, [0.5, 0.999], 0.0)
    assert (cfg.arch.generator.width, cfg.arch.discriminator.width, cfg.arch.discriminator.norm) == (64, 64, "batch")


def test_dcgan_preset_has_the_examples_parameter_counts_at_64x64_rgb() -> None:
    cfg = make_config("+experiment=dcgan")
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
    cfg = make_config("+experiment=dcgan", *SHRINK, *TINY_ARCH["dcgan"])
    assert cfg.dataset.resolution == 64
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["step"] == 2
    grid = tmp_path / "samples" / "step_000002.png"
    assert grid.is_file()


def test_bench_step_measures_both_loops_in_every_precision() -> None:
    # A smoke test of the benchmark (its numbers are not asserted: speed lives in scripts, not tests). The peak
    # memory is an RSS delta on the CPU, which may be slightly negative when memory is returned.
    bench = load_script("bench_step")
    tiny = tuple(TINY_ARCH["dcgan"])
    for loop in ("plain", "gan-runner"):
        for precision in ("fp32", "bf16"):
            row = bench.measure(loop, "cpu", precision, False, resolution=8, batch_size=4, iters=1, warmup=1,
                                overrides=tiny)
            assert row["it_s"] > 0 and isinstance(row["peak_mib"], float)