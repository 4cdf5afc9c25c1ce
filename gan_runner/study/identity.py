"""A run's place in a study: its name, its W&B group and the options it chose, so that runs of a sweep can be
compared by name (W&B's group-by and filters, gan-report) and the seeds of one configuration aggregate.

A study is a sweep (`gan-run -m ...`). What varies in it is read from the sweep's own command line (the
overrides that sweep: `objective=hinge,wgan`, `seed=range(3)`, `interval(...)`) and from an Optuna sweeper's
search space (`hydra.sweeper.params`). A run's name is its values of what varies; its group is the study's name
and those values without the seed, so the seeds of one configuration land in one group and the configurations
in different groups. A lone run has no group unless `study.name` gives one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, read_write

from gan_runner.errors import UserError
from gan_runner.run_directory import part_of_the_experiment

# The config groups whose chosen option a run records as `choice/<group>` (the regularisers are a list).
CHOICE_GROUPS = ("arch", "dataset", "objective", "regulariser", "metrics", "experiment")
STUDY_FILE = "study.yaml"  # in the sweep folder: the sweep's own command line, written before its jobs start


@dataclass
class RunIdentity:
    name: str                          # the run's name: its values of what varies ("objective=hinge,seed=1")
    study: str | None = None           # the study's name (a sweep: its folder)
    group: str | None = None           # study + the varied overrides without the seed
    varied: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        return [f"{group}={option}" for group, option in self.choices.items() if option != "none"]

    def config_keys(self) -> dict[str, Any]:
        """Plain keys for the logger's config: W&B groups and filters runs by these names."""
        return {**{f"choice/{group}": option for group, option in self.choices.items()},
                "study/name": self.study, "study/varied": ",".join(self.varied)}

    def summary(self) -> dict[str, Any]:
        return {"name": self.study, "group": self.group, "run_name": self.name, "varied": self.varied,
                "choices": self.choices}


def regulariser_choice(cfg: DictConfig) -> str:
    """The chosen regularisers as one name: "gp+spectral_norm", or "none"."""
    return "+".join(name for name in cfg.get("regulariser") or {} if name != "none") or "none"


def choices(cfg: DictConfig, hydra_choices: dict[str, Any]) -> dict[str, str]:
    """Each group's chosen option; a group not chosen (no experiment preset) is "none"."""
    chosen = {group: str(hydra_choices.get(group) or "none") for group in CHOICE_GROUPS}
    chosen["regulariser"] = regulariser_choice(cfg)
    return chosen


def swept_keys(command_line: list[str], search_space: dict[str, Any] | None) -> list[str]:
    """The keys a sweep varies: its command line's sweep overrides (a,b / range / choice / interval ...) and
    an Optuna search space's keys, in the order given."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = [override.get_key_element().lstrip("+~") for override in OverridesParser.create().parse_overrides(
        command_line) if override.is_sweep_override()]
    keys += [key for key in (search_space or {}) if key not in keys]
    return keys


def overrides_of(overrides: list[str], keys: list[str]) -> list[str]:
    """This job's overrides of `keys` (key=value), in the order of `keys`."""
    by_key = {override.split("=", 1)[0].lstrip("+~"): override.lstrip("+~") for override in overrides}
    return [by_key[key] for key in keys if key in by_key]


def study_name(sweep_dir: str) -> str:
    """A readable name from the sweep's folder: outputs/multirun/2026-11-26/11-30-41 -> 2026-11-26_11-30-41."""
    return "_".join(Path(sweep_dir).parts[-2:]).lstrip("_.")


def record_sweep(sweep_dir: str, command_line: list[str], search_space: dict[str, Any] | None) -> None:
    """Written by the sweep (a Hydra callback) before its jobs start: what the jobs need to know what varies."""
    path = Path(sweep_dir) / STUDY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({"command_line": command_line, "search_space": search_space or {}}), path)


def varied_keys(sweep_dir: str, overrides: list[str]) -> list[str]:
    """What the sweep in `sweep_dir` varies, from its study.yaml; without one (a sweep started some other way),
    every override of the job."""
    recorded = Path(sweep_dir) / STUDY_FILE
    if not recorded.is_file():
        return [override.split("=", 1)[0].lstrip("+~") for override in overrides]
    sweep = OmegaConf.load(recorded)
    return swept_keys(list(sweep.command_line), OmegaConf.to_container(sweep.search_space))


def job_dirname(job_num: int, sweep_dir: str, overrides: list[str]) -> str:
    """A sweep job's folder: its number and its values of what varies ("3_objective=hinge,seed=1"); not every
    override, which soon makes a name longer than a file system allows (255 bytes)."""
    name = ",".join(overrides_of(overrides, varied_keys(sweep_dir, overrides))).replace("/", "_")
    return f"{job_num}_{name or 'defaults'}"[:200]


def identify(cfg: DictConfig, overrides: list[str], hydra_choices: dict[str, Any], sweep_dir: str | None
             ) -> RunIdentity:
    """This job's identity. `sweep_dir` is None for a lone run; `overrides` are this job's own."""
    chosen = choices(cfg, hydra_choices)
    configured = cfg.get("study", {}).get("name")
    if sweep_dir is None:
        name = ",".join(override.lstrip("+~") for override in overrides) or "defaults"
        return RunIdentity(name, configured, configured, [], chosen)
    varied = varied_keys(sweep_dir, overrides)
    study = configured or study_name(sweep_dir)
    name = ",".join(overrides_of(overrides, varied)) or "defaults"
    # The same rule as gan-report's groups: what varies and changes the experiment (not the seed, nor where and
    # how the run is executed or recorded).
    configuration = ",".join(overrides_of(overrides, [key for key in varied if part_of_the_experiment(key)])) \
        or "defaults"
    return RunIdentity(name, study, f"{study}/{configuration}", varied, chosen)


def objective_value(summary: dict[str, Any], metric: str | None) -> float | None:
    """What an Optuna trial returns: the run's best value of `metric` (its final value when the metric is not the
    one the run ranks by). None when the run did not complete or never measured it: Optuna's sweeper records
    that trial as failed, never as a zero. (Not NaN: hydra-optuna-sweeper 1.3 with Optuna 2.10 crashes on it.)"""
    best = summary.get("best") or {}
    if metric is None or best.get("key") == metric:
        value = best.get("value")
    else:
        value = summary.get("metrics", {}).get(metric)
    if summary.get("status") != "completed" or value is None or not math.isfinite(value):
        return None
    return float(value)


def chosen_direction(value: Any) -> str | None:
    """A sweeper's direction as the user gave it: "maximize" or "minimize", from a string or a one-element list;
    None when it was not given: absent, or hydra-optuna-sweeper's own default, an enum value (Direction.minimize)
    rather than a string, which no command line or YAML file produces. Several directions (a multi-objective study)
    are refused: a run returns one value."""
    if OmegaConf.is_list(value) or isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise UserError(f"hydra.sweeper.direction={list(value)} asks for a study of {len(value)} objectives, but a "
                            "gan-run job returns one value (study.metric, or its metric's best key). Fix: one "
                            "direction, e.g. hydra.sweeper.direction=maximize.")
        value = value[0]
    if value is None or not isinstance(value, str):
        return None
    return value.lower()


def metric_direction(study: Any, metric: Any) -> str | None:
    """The direction in which the value a run returns improves: its metric's best key's sense, or None when the
    study returns another key (study.metric), whose sense gan-run does not know."""
    if metric.best_key is None or study.get("metric") not in (None, metric.best_key):
        return None
    return "maximize" if metric.higher_is_better else "minimize"


def settle_direction(config: DictConfig, metric: Any) -> str | None:
    """Before a sweep's first trial: the direction its sweeper will optimise in, written into the sweep's config.
    Given (hydra.sweeper.direction, or study.direction), it is checked against the metric (a contradiction is
    refused); not given, it is the metric's own sense, so that the plugin's default (minimize) never minimises a
    score that is better higher. None for sweepers without a direction (Hydra's basic one)."""
    sweeper = config.hydra.sweeper
    if "direction" not in sweeper:
        return None
    study = config.get("study") or OmegaConf.create({})
    direction = chosen_direction(sweeper.direction) or study.get("direction")
    if direction is None:
        direction = metric_direction(study, metric)
        if direction is None:
            raise UserError(f"The study returns {study.get('metric')}, whose better direction gan-run does not know, "
                            "and no direction was given (Optuna's default is minimize). Fix: "
                            "hydra.sweeper.direction=maximize or hydra.sweeper.direction=minimize.")
    check_direction(OmegaConf.create({"study": {"direction": direction, "metric": study.get("metric")}}), metric)
    with read_write(sweeper):
        sweeper.direction = direction
    return direction


def check_direction(cfg: DictConfig, metric: Any) -> None:
    """A study that optimises the run's best key (an Optuna sweep: gan-run copies hydra.sweeper.direction into
    study.direction) must do so the way that key improves: a sweep minimising the modes covered would seem to
    work and find the worst settings."""
    study = cfg.get("study") or {}
    direction, key = study.get("direction"), study.get("metric")
    if direction not in (None, "maximize", "minimize"):
        raise UserError(f"study.direction={direction} is neither maximize nor minimize. Fix: "
                        "study.direction=maximize or study.direction=minimize (null: the metric's own sense).")
    if direction is None or metric.best_key is None or key not in (None, metric.best_key):
        return
    sense = "maximize" if metric.higher_is_better else "minimize"
    if direction != sense:
        raise UserError(
            f"The study would {direction} {metric.best_key}, which is better "
            f"{'higher' if metric.higher_is_better else 'lower'}. Fix: hydra.sweeper.direction={sense} (an Optuna "
            f"sweep; else study.direction={sense}), or study.metric=KEY for another key, with the direction it needs.")
