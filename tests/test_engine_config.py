"""gan_runner/schema.py, the typed schema of train.*, and engine/config.py, the combinations: a value of the wrong type
fails when the config is composed, a misspelt key too (and a key added with + before any work), ranges before any
work; which keys change the experiment (gan-report's and W&B's groups); old configs filled in with what a missing key
meant."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from gan_runner.engine.config import validate
from gan_runner.errors import UserError
from gan_runner.run_directory import part_of_the_experiment, upgrade
from gan_runner.schema import NOT_SET, TrainConfig, affects_result
from tests.conftest import make_config


@pytest.mark.parametrize("override", ["train.lr_g=abc", "train.steps=1.5", "train.compile=maybe", "train.stepz=5"])
def test_a_wrong_type_or_an_unknown_key_fails_when_the_config_is_composed(override: str) -> None:
    with pytest.raises(ConfigCompositionException):
        make_config(override)


def test_every_field_of_the_schema_is_in_the_config_with_its_type() -> None:
    cfg = make_config()
    assert OmegaConf.get_type(cfg.train) is TrainConfig
    assert set(cfg.train) == {field.name for field in dataclasses.fields(TrainConfig)}
    assert not OmegaConf.missing_keys(cfg.train)  # conf/config.yaml gives every value; the schema gives none


@pytest.mark.parametrize("override, message", [
    ("+train.stepz=5", "train.stepz is not a key of train: did you mean train.steps?"),
    ("train.steps=-3", "train.steps must be a positive whole number"),
    ("train.ema=1.0", "train.ema must be the decay of the generator's moving average, in [0, 1)"),
    ("train.betas=[0.5]", "train.betas must be Adam's two decay rates"),
    ("train.precision=fp8", "train.precision must be fp32, bf16 or fp16"),
])
def test_keys_added_with_a_plus_and_values_out_of_range_are_refused_before_any_work(override: str,
                                                                                    message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        validate(make_config(override))


def test_where_and_how_a_run_is_executed_is_not_part_of_the_experiment() -> None:
    executed = {"device", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "compile", "cuda_graph",
                "threads", "warn_after_h", "collective_timeout_s"}
    assert {f.name for f in dataclasses.fields(TrainConfig) if not affects_result(f"train.{f.name}")} == executed
    for key in ("seed", "resume", "logger.project", "hydra.run.dir", "study.name", "study.jobs_per_gpu",
                "train.log_every", "train.threads"):
        assert not part_of_the_experiment(key), key
    for key in ("train.lr_g", "train.precision", "objective._target_", "arch.generator.width", "z_dim"):
        assert part_of_the_experiment(key), key


def test_a_config_saved_before_a_key_existed_gets_the_value_its_absence_meant() -> None:
    saved = OmegaConf.to_container(make_config())
    added_later = {f.name: f.metadata["before"] for f in dataclasses.fields(TrainConfig)
                   if f.metadata["before"] is not NOT_SET}
    for name in added_later:
        del saved["train"][name]
    del saved["optimizer"], saved["health"], saved["latent"], saved["conditional"]
    upgraded = upgrade("config", saved)
    assert {name: upgraded["train"][name] for name in added_later} == added_later
    assert upgraded["optimizer"]["g"]["_target_"] == "torch.optim.Adam" and upgraded["latent"]["_target_"].endswith(
        "StandardNormal") and upgraded["health"] == {"_target_": "gan_runner.health.Health"}
    validate(OmegaConf.create({**upgraded, "train": {**upgraded["train"]}}))
