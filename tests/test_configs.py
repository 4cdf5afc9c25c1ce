"""Every option in conf/ composes, instantiates and trains: the folders are globbed, so a new YAML file
is tested without a new test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from gan_runner.commands.sample import load_generator
from gan_runner.engine.sampling import draw
from gan_runner.engine.loop import train
from gan_runner.engine.step import Schedule
from tests.conftest import CONF, SHRINK, TINY, make_config, metric_rows, noise_to_data_archs, options

# The dataset each architecture trains on in these tests: the smallest that suits it.
DIGITS_8 = ["dataset=digits", "dataset.resolution=8"]
DATASET_FOR = {"mlp": ["dataset=ring8"]}  # an image architecture (any other, a new one too): 8x8 digits


def test_every_group_has_options() -> None:
    for group in ("dataset", "arch", "objective", "regulariser", "metrics", "logger"):
        assert options(group), f"conf/{group}/ is empty"


# Every objective with every regulariser on the MLP; on the other architectures every objective and
# every regulariser once (the pairings do not depend on the architecture, the shapes do).
# A regulariser that needs something of G that only some architectures have trains with those alone (path_length:
# G.styles and G.synthesis); tests/test_stylegan2_optimisation.py checks that the others are refused.
NEEDS_ARCH = {"path_length": {"stylegan2"}}


def fits(arch: str, regulariser: str) -> bool:
    return arch in NEEDS_ARCH.get(regulariser, {arch})


COMBINATIONS = sorted(
    {("mlp", o, r) for o in options("objective") for r in options("regulariser") if fits("mlp", r)}
    | {(a, o, "none") for a in noise_to_data_archs() for o in options("objective")}
    | {(a, "nonsaturating", r) for a in noise_to_data_archs() for r in options("regulariser") if fits(a, r)}
)
# The regularisers that add a term to D's loss, logged as reg/<name> (lazy ones on D step 0 too).
PENALTIES = {"gp", "gp0", "r1", "r2", "dragan", "label_smoothing", "r1_lazy"}


@pytest.mark.parametrize("arch, objective, regulariser", COMBINATIONS)
def test_every_combination_trains_two_steps(tmp_path: Path, arch: str, objective: str, regulariser: str) -> None:
    cfg = make_config(*SHRINK, f"arch={arch}", f"objective={objective}", f"regulariser=[{regulariser}]",
                      *DATASET_FOR.get(arch, DIGITS_8), *TINY)
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["step"] == 2
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    assert all(torch.isfinite(torch.tensor([row["loss/d"], row["loss/g"]])).all() for row in rows)
    if regulariser in PENALTIES:
        assert f"reg/{regulariser}" in rows[0]
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    assert (tmp_path / "samples" / "step_000002.png").is_file()


def test_orthogonal_regularisation_reaches_the_generator_step(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "dataset=ring8", *TINY, "regulariser=orthogonal"), tmp_path)
    row = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert row["reg_g/orthogonal"] > 0


def test_spectrally_normalised_generator_samples_from_its_checkpoint(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "regulariser=spectral_norm",
                      "regulariser.spectral_norm.generator=true")
    train(cfg, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert any("parametrizations" in key for key in state["G_ema"])
    generator, z_dim = load_generator(tmp_path)
    assert draw(generator, z_dim, 10).shape == (10, 2)


def test_a_nonsensical_combination_is_trained_with_its_warning_in_the_summary(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "objective=wgan", "regulariser=[clip,spectral_norm]")
    (warning,) = train(cfg, tmp_path)["warnings"]
    assert "weight clipping with spectral normalisation" in warning


def test_regularisers_combine(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "objective=wgan", "regulariser=[clip,gp]")
    assert set(cfg.regulariser) == {"clip", "gp"}
    train(cfg, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert max(v.abs().max().item() for v in state["D"].values()) <= 0.01  # clip ran after the last step
    assert "reg/gp" in json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])


def test_a_single_regulariser_needs_no_brackets() -> None:
    assert set(make_config("regulariser=gp").regulariser) == {"gp"}
    assert set(make_config().regulariser) == set()


@pytest.mark.parametrize("dataset", options("dataset"))
def test_every_dataset_composes(dataset: str) -> None:
    cfg = make_config(f"dataset={dataset}")
    assert cfg.dataset._target_.startswith("gan_runner.data.")
    if dataset in ("ring8", "grid25"):
        assert cfg.arch.generator._target_ == "gan_runner.arch.mlp.Generator"
        assert cfg.metrics._target_ == "gan_runner.metrics.toy.ToyModes"
        assert instantiate(cfg.dataset).shape == (2,)


def test_every_metric_and_logger_instantiates() -> None:
    for metrics in options("metrics"):
        assert callable(instantiate(make_config(f"metrics={metrics}").metrics))
    for logger in options("logger"):
        assert hasattr(instantiate(make_config(f"logger={logger}").logger), "log")


def test_same_seed_same_losses_bit_for_bit(tmp_path: Path) -> None:
    overrides = [*SHRINK, "train.steps=5", *TINY, "dataset.resolution=8", "regulariser=gp"]
    for run in ("a", "b"):
        train(make_config(*overrides), tmp_path / run)
    assert metric_rows(tmp_path / "a") == metric_rows(tmp_path / "b")
    train(make_config(*overrides, "seed=1"), tmp_path / "c")
    assert metric_rows(tmp_path / "a") != metric_rows(tmp_path / "c")


def test_n_critic_and_separate_learning_rates(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "train.n_critic=3", "train.lr_g=1e-3",
                      "train.lr_end_factor=1.0",
                      "train.lr_d=3e-4")
    train(cfg, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["opt_g"]["param_groups"][0]["lr"] == 1e-3 and state["opt_d"]["param_groups"][0]["lr"] == 3e-4
    assert state["step"] == 2 and state["d_steps"] == 6
    d_steps = {float(s["step"]) for s in state["opt_d"]["state"].values()}
    g_steps = {float(s["step"]) for s in state["opt_g"]["state"].values()}
    assert d_steps == {6.0} and g_steps == {2.0}  # Adam's own step counters: 3 D updates per G update


def test_conf_mirrors_the_package() -> None:
    package = Path(__file__).resolve().parents[1] / "gan_runner"
    mirror = {"dataset": "data", "arch": "arch", "objective": "objectives", "regulariser": "regularisers",
              "metrics": "metrics", "logger": "loggers", "health": "health", "latent": "latent"}
    for group, module in mirror.items():  # a package, or one module for a group of small classes (latent)
        assert (CONF / group).is_dir()
        assert (package / module / "__init__.py").is_file() or (package / f"{module}.py").is_file(), group


def test_learning_rates_decay_linearly_to_the_end_factor(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "train.steps=4", "dataset=ring8", *TINY, "train.lr_g=1e-3",
                      "train.lr_d=2e-3", "train.lr_end_factor=0.25")
    schedule = Schedule(1e-3, 2e-3, 0.25, 4)
    assert [schedule.factor(done) for done in range(5)] == pytest.approx([1, 0.8125, 0.625, 0.4375, 0.25])
    train(cfg, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    # The 4th and last update used the factor after 3 updates.
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(0.4375e-3)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(0.875e-3)
