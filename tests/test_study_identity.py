"""study/identity.py: what a sweep varies names its runs and W&B groups (the seeds of a configuration in one group),
an Optuna sweep's direction settled from any form (or refused) and each run's objective value (none, a failed
trial, when the run did not complete)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra_plugins.hydra_optuna_sweeper.config import Direction
from omegaconf import DictConfig, OmegaConf

from gan_runner.errors import UserError
from gan_runner.metrics.toy import ToyModes
from gan_runner.study.identity import (check_direction, identify, job_dirname, objective_value, record_sweep,
    settle_direction, swept_keys)
from tests.conftest import TINY, make_config, run




TOY = ["dataset=ring8", *TINY, "train.steps=20", "train.log_every=10", "train.sample_every=100",
       "train.checkpoint_every=100", "logger=none", "metrics.n_samples=500"]


def test_swept_keys_are_the_command_lines_sweeps_and_the_search_space() -> None:
    command_line = ["dataset=ring8", "objective=hinge,wgan", "seed=range(3)", "train.lr_g=interval(1e-4,1e-3)",
                    "regulariser=[gp,spectral_norm],none", "train.steps=100", "experiment=sngan"]
    assert swept_keys(command_line, {"train.n_critic": "range(1,4)"}) == [
        "objective", "seed", "train.lr_g", "regulariser", "train.n_critic"]
    assert swept_keys(["regulariser=[gp,spectral_norm]"], None) == []  # one list is one value, not a sweep


def test_seeds_of_a_configuration_share_a_group_and_configurations_do_not(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun" / "2026-11-26" / "11-30-41"
    record_sweep(str(sweep), ["objective=hinge,wgan", "seed=0,1", "train.steps=100"], None)
    cfg = make_config("regulariser=[gp,spectral_norm]")
    choices = {"arch": "dcgan", "dataset": "digits", "objective": "hinge", "metrics": "digits"}

    def who(*overrides: str):
        return identify(cfg, [*overrides, "train.steps=100"], choices, str(sweep))

    a, b, c = who("objective=hinge", "seed=0"), who("objective=hinge", "seed=1"), who("objective=wgan", "seed=0")
    assert a.group == b.group == "2026-11-26_11-30-41/objective=hinge" != c.group
    assert (a.name, b.name) == ("objective=hinge,seed=0", "objective=hinge,seed=1")  # no constant train.steps
    assert a.choices == {"arch": "dcgan", "dataset": "digits", "objective": "hinge", "regulariser": "gp+spectral_norm",
                         "metrics": "digits", "experiment": "none"}
    assert a.config_keys()["choice/regulariser"] == "gp+spectral_norm" and "regulariser=gp+spectral_norm" in a.tags
    lone = identify(cfg, ["objective=hinge"], choices, None)
    assert lone.group is None and lone.name == "objective=hinge"
    named = identify(make_config("study.name=lr"), ["seed=1"], choices, None)
    assert named.group == "lr" and named.study == "lr"


def test_a_job_folder_is_named_by_what_varies_and_stays_short(tmp_path: Path) -> None:
    record_sweep(str(tmp_path), ["objective=hinge,wgan", "dataset.root=/data/x", "train.steps=5"], None)
    job = job_dirname(3, str(tmp_path), ["objective=wgan", "dataset.root=/data/x", "train.steps=5"])
    assert job == "3_objective=wgan"
    record_sweep(str(tmp_path), [f"k{i}=a,b" for i in range(60)], None)
    long = job_dirname(0, str(tmp_path), [f"k{i}=a" for i in range(60)])
    assert len(long.encode()) <= 255 and long.startswith("0_k0=a,k1=a")


def test_objective_value_is_the_best_or_a_named_metric_and_none_when_the_run_failed() -> None:
    completed = {"status": "completed", "best": {"key": "toy/modes_then_quality", "value": 7.5, "step": 400},
                 "metrics": {"toy/modes_then_quality": 7.0, "toy/reverse_kl": 0.25}}
    assert objective_value(completed, None) == 7.5 and objective_value(completed, "toy/modes_then_quality") == 7.5
    assert objective_value(completed, "toy/reverse_kl") == 0.25
    assert objective_value(completed, "fid") is None  # never measured: a failed trial, not a zero
    for status in ("diverged", "interrupted", "error"):
        assert objective_value({**completed, "status": status}, None) is None


def test_a_direction_against_the_metrics_sense_is_refused() -> None:
    metric = ToyModes(n_samples=10)  # toy/modes_then_quality: higher is better
    check_direction(OmegaConf.create({"study": {"direction": "maximize", "metric": None}}), metric)
    check_direction(OmegaConf.create({"study": {"direction": "minimize", "metric": "toy/reverse_kl"}}), metric)
    with pytest.raises(UserError, match="hydra.sweeper.direction=maximize"):
        check_direction(OmegaConf.create({"study": {"direction": "minimize", "metric": None}}), metric)
    with pytest.raises(UserError, match="neither maximize nor minimize"):
        check_direction(OmegaConf.create({"study": {"direction": "max", "metric": None}}), metric)


def sweep_config(direction: object, metric: str | None = None) -> DictConfig:
    config = OmegaConf.create({"study": {"metric": metric, "direction": None}, "hydra": {"sweeper": {}}})
    config.hydra.sweeper.direction = direction
    return config


@pytest.mark.parametrize("given, settled", [
    (Direction.minimize, "maximize"),            # the plugin's own default: not the user's word
    ("maximize", "maximize"), ("MAXIMIZE", "maximize"), (["maximize"], "maximize"), ([Direction.maximize], "maximize"),
])
def test_every_form_of_an_optuna_direction_settles_on_the_way_the_metric_improves(given: object, settled: str) -> None:
    config = sweep_config(given)
    assert settle_direction(config, ToyModes(n_samples=10)) == settled == config.hydra.sweeper.direction


@pytest.mark.parametrize("given, refusal", [
    ("minimize", "hydra.sweeper.direction=maximize"), (["minimize"], "hydra.sweeper.direction=maximize"),
    (["maximize", "minimize"], "a gan-run job returns one value"),
])
def test_an_optuna_direction_against_the_metric_or_of_several_objectives_is_refused(given: object,
                                                                                   refusal: str) -> None:
    with pytest.raises(UserError, match=refusal):
        settle_direction(sweep_config(given), ToyModes(n_samples=10))


def test_a_study_of_another_key_needs_its_direction_spelled_out() -> None:
    with pytest.raises(UserError, match="whose better direction gan-run does not know"):
        settle_direction(sweep_config(Direction.minimize, "toy/reverse_kl"), ToyModes(n_samples=10))
    assert settle_direction(sweep_config("minimize", "toy/reverse_kl"), ToyModes(n_samples=10)) == "minimize"
    assert settle_direction(OmegaConf.create({"hydra": {"sweeper": {"max_batch_size": None}}}), ToyModes()) is None


def test_an_optuna_sweep_with_the_plugins_defaults_maximises_modes(tmp_path: Path) -> None:
    """`gan-run -m hydra/sweeper=optuna ...` as a user types it, no direction given: Optuna's default is minimize,
    an enum; the study maximises toy/modes_then_quality (better higher) and its best is the largest trial value."""
    result = run("gan-run", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", "train.lr_g=interval(1e-4,1e-2)",
                 *TOY, "hydra.sweep.dir=search", cwd=tmp_path)
    assert "Directions: ['maximize']" in result.stdout + result.stderr
    values = [json.loads(p.read_text())["best"]["value"] for p in (tmp_path / "search").glob("*/summary.json")]
    assert len(values) == 2 and OmegaConf.load(tmp_path / "search" / "optimization_results.yaml").best_value == \
        max(values)


def test_optuna_sweep_returns_the_best_trial_and_its_value(tmp_path: Path) -> None:
    run("gan-run", "-m", "+search=ring8_lr", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", *TOY,
        "hydra.sweep.dir=search", cwd=tmp_path)
    sweep = tmp_path / "search"
    values = {}
    for job in (p for p in sweep.iterdir() if (p / "summary.json").is_file()):
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["study"]["varied"] == [
            "train.lr_g", "train.lr_d", "train.n_critic", "regulariser.gp0.weight"]
        assert summary["study"]["group"].startswith("ring8_lr/train.lr_g=")
        values[job.name] = summary["best"]["value"]
    assert len(values) == 4
    result = OmegaConf.load(sweep / "optimization_results.yaml")
    assert result.best_value == max(values.values())
    (best_job,) = [job for job in values if all(f"{k}={v}," in job + "," for k, v in result.best_params.items())]
    assert values[best_job] == result.best_value


def test_a_diverged_trial_is_recorded_as_failed_not_as_zero(tmp_path: Path) -> None:
    """Trials over two learning rates of D, one of which makes the weights infinite: Optuna records those trials
    as failed (the run returned no value) and the best trial is one with the other."""
    # (Not the grid sampler: hydra-optuna-sweeper 1.3 crashes when a grid's last trial fails.)
    result = run("gan-run", "-m", "hydra/sweeper=optuna", "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=4",
                 "hydra.sweeper.n_jobs=1", "hydra.sweeper.direction=maximize", "hydra.sweeper.max_failure_rate=1.0",
                 "train.lr_d=choice(1e-3,1e30)", *TOY, "hydra.sweep.dir=search", cwd=tmp_path)
    assert "Failed experiment" in result.stdout + result.stderr
    assert OmegaConf.load(tmp_path / "search" / "optimization_results.yaml").best_params["train.lr_d"] == 1e-3
    statuses = {json.loads(p.read_text())["status"] for p in (tmp_path / "search").glob("*/summary.json")}
    assert statuses == {"completed", "diverged"}


def test_an_optuna_sweep_minimising_modes_refuses_to_train(tmp_path: Path) -> None:
    result = run("gan-run", "-m", "+search=ring8_lr", "hydra.sweeper.direction=minimize", "hydra.sweeper.n_trials=1",
                 *TOY, "hydra.sweep.dir=search", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "hydra.sweeper.direction=maximize" in result.stderr and "Traceback" not in result.stderr
    assert not list((tmp_path / "search").glob("*/summary.json"))  # no trial ran
