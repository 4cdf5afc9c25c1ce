"""`train`: the typed schema of a run's training settings, the one place that says what each `train.*` key is.

Each field carries its type (checked by OmegaConf when Hydra composes the config, so `train.lr_g=abc` or a misspelt
`+train.stepz=5` fails before anything runs), its range (`check`, with the words of `meaning`, checked by
`check_values` before any work), whether it changes what is trained (`affects_result`: false for where and how a run
is executed or recorded, so runs that differ only there are seeds of one configuration to gan-report and W&B), and
for a key added after runs were saved, the value an older config without it means (`before`: run_directory's
`upgrade` fills it in). conf/config.yaml holds the values (and their comments); this module holds the contract, and no value.

The ground floor: run_directory reads it (what a saved config's missing key means, which keys change the result),
conf/__init__.py registers it, and the engine checks a run's config with it (gan_runner/engine/config.py adds which
values go together).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from gan_runner.errors import UserError, did_you_mean

NOT_SET = object()  # `before` of a key that every saved config has


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def option(meaning: str, check: Callable[[Any], bool] = lambda value: True, affects_result: bool = True,
           before: Any = NOT_SET) -> Any:
    """A field of the schema: no value of its own (conf/config.yaml gives every one), what it must be (in words), its
    range, whether it changes the result, and what a saved config without it means."""
    return field(default=MISSING, metadata={"meaning": meaning, "check": check, "affects_result": affects_result,
                                            "before": before})


def _positive(value: Any) -> bool:
    return value > 0


@dataclass
class CriticBurstsConfig:
    n_critic: Optional[int] = option("null (no bursts) or a positive whole number of D updates in a burst step",
                                     lambda v: v is None or v > 0)
    first: int = option("the G updates at the start whose steps are bursts, a whole number", lambda v: v >= 0)
    every: int = option("a positive whole number: every this many G updates a burst", _positive)


@dataclass
class TrainConfig:
    steps: int = option("a positive whole number of generator updates", _positive)
    batch_size: int = option("a positive whole number", _positive)
    n_critic: int = option("a positive whole number of D updates per G update", _positive)
    critic_bursts: CriticBurstsConfig = option("{n_critic, first, every}: more D updates at the start and every so "
                                               "often (WGAN's code); n_critic null: none",
                                               before={"n_critic": None, "first": 0, "every": 1})
    g_batch_size: Optional[int] = option("null (D's batch) or a positive whole number of samples for G's update",
                                         lambda v: v is None or v > 0, before=None)
    simultaneous: bool = option("false (n_critic D updates, then G's against the updated D) or true (both from one "
                                "forward pass)", before=False)
    d_loss_scale: float = option("a positive number that multiplies D's loss", _positive, before=1.0)
    lr_g: float = option("a positive number", _positive)
    lr_d: float = option("a positive number", _positive)
    betas: list[float] = option("Adam's two decay rates in [0, 1), e.g. [0.5,0.999]",
                                lambda v: len(v) == 2 and all(0 <= b < 1 for b in v))
    lr_end_factor: float = option("where the learning rates end as a fraction of where they start, in [0, 1] "
                                  "(1.0: constant)", lambda v: 0 <= v <= 1)
    lr_decay_start: int = option("the G update where the linear move to lr_end_factor begins, a whole number >= 0 "
                                 "(pix2pix: half the run)", lambda v: v >= 0, before=0)
    lr_drop_at: Optional[int] = option("null, or the G update from which the learning rates are multiplied by "
                                       "lr_drop_factor (SRGAN: 1e-4, then 1e-5)", lambda v: v is None or v >= 0,
                                       before=None)
    lr_drop_factor: float = option("a number in (0, 1] that multiplies the learning rates from lr_drop_at on",
                                   lambda v: 0 < v <= 1, before=0.1)
    lr_decay: float = option("a number >= 1 that divides the learning rates once per G update (1.0: none)",
                             lambda v: v >= 1, before=1.0)
    lr_min: float = option("the smallest learning rate, a number >= 0", lambda v: v >= 0, before=0.0)
    momentum_end: Optional[float] = option("null, or the momentum in [0, 1) that SGD's momentum moves to",
                                           lambda v: v is None or 0 <= v < 1, before=None)
    momentum_steps: int = option("a positive whole number of G updates over which the momentum moves",
                                 _positive, before=1)
    ema: float = option("the decay of the generator's moving average, in [0, 1) (0.999 for a long average, 0 "
                        "to sample G itself)", lambda v: 0 <= v < 1)
    ema_rampup: Optional[float] = option("the largest half-life of the moving average as a fraction of the "
                                         "steps done so far, in [0, 1] (0.05 as stylegan2-ada; null or 0: no ramp)",
                                         lambda v: v is None or 0 <= v <= 1, before=None)
    ema_kimg: Optional[float] = option("null (train.ema's decay per update) or the moving average's half-life in "
                                       "thousands of images, a positive number (stylegan2-ada: 10)",
                                       lambda v: v is None or v > 0, before=None)
    ema_start: int = option("the G update after which averaging starts, a whole number (0: from the first; "
                            "BigGAN: 20000)", lambda v: v >= 0, before=0)
    log_every: int = option("a positive whole number of steps", _positive, affects_result=False)
    sample_every: int = option("a positive whole number of steps", _positive, affects_result=False)
    checkpoint_every: int = option("a positive whole number of steps", _positive, affects_result=False)
    keep_checkpoints: int = option("a positive whole number (1: last.pt alone)", _positive, affects_result=False)
    device: str = option("auto, cpu, cuda or cuda:N", affects_result=False)
    precision: str = option("fp32, bf16 or fp16 (autocast; fp16 also scales the losses)",
                            lambda v: v in ("fp32", "bf16", "fp16"), before="fp32")
    compile: bool = option("true (torch.compile G and D) or false", affects_result=False, before=False)
    cuda_graph: Any = option("auto (on CUDA, the step recorded as a CUDA graph when it can be, else eager with the "
                             "reason in the log), true (recorded, or refused with the reasons) or false (eager)",
                             lambda v: v in ("auto", True, False), affects_result=False, before=False)
    threads: Any = option("auto (OMP_NUM_THREADS when set, else the cores free for the run, followed while it goes) or "
                          "a positive whole number of CPU threads for torch",
                          lambda v: v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
                          affects_result=False, before="auto")
    warn_after_h: Optional[float] = option("a positive number of hours (a warning when the run's estimated wall "
                                           "time exceeds it) or null (never)", lambda v: v is None or v > 0,
                                           affects_result=False, before=12.0)
    tf32: bool = option("true (TF32 matrix products and convolutions on CUDA, the default) or false (exact "
                        "fp32)", before=True)
    separate_passes: bool = option("true (D scores real and fake in a pass each) or false (one pass over "
                                   "both)", before=False)
    reuse_fakes: bool = option("true (G's update scores the fakes of D's) or false (fresh z)", before=False)
    sync_batchnorm: bool = option("true (batch statistics over all processes' samples, CUDA) or false (each "
                                  "process's own)", before=False)
    collective_timeout_s: float = option("a positive number of seconds", _positive, affects_result=False,
                                         before=600.0)


def train_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def affects_result(key: str) -> bool:
    """Whether a `train.*` key changes what is trained (False: where and how the run is executed or recorded)."""
    name = key.removeprefix("train.")
    return train_fields()[name].metadata["affects_result"] if name in train_fields() else True


def saved_before(name: str) -> Any:
    """What a saved config without `train.<name>` means (NOT_SET: every saved config has it)."""
    return train_fields()[name].metadata["before"]


def register() -> None:
    """The schema of the `train` node, chosen by conf/config.yaml's defaults list (`train_schema@train`)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="train_schema", node=TrainConfig)


# Beyond `train`: the few root values that are neither a config group nor a component's option.
ROOT_RULES = {
    "z_dim": (lambda v: _whole(v) and v > 0, "a positive whole number"),
    "seed": (_whole, "a whole number"),
    "conditional": (lambda v: isinstance(v, bool), "true (class-conditional G and D) or false"),
}


def check_nothing_missing(cfg: DictConfig) -> None:
    """A value a config file leaves to the user (`???`, e.g. image_folder's dataset.root) and the user did not give:
    one paragraph naming each key, before anything is built."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        example = " ".join(f"{key}=..." for key in missing)
        raise UserError(f"{', '.join(missing)} must be given: the chosen config leaves "
                        f"{'them' if len(missing) > 1 else 'it'} to you (??? in its YAML file). Fix: gan-run ... "
                        f"{example} (e.g. dataset.root=/path/to/images for dataset=image_folder).")


def check_values(cfg: DictConfig) -> None:
    """The ranges of `train.*` and the root values (their types were checked when the config was composed, or
    upgraded from a saved one), no key left missing, no unknown key: what each value must be on its own. Which
    values go together is the engine's to say (gan_runner/engine/config.py)."""
    check_nothing_missing(cfg)
    unknown = sorted(set(cfg.train) - set(train_fields()))
    if unknown:  # `+train.stepz=5` adds a key: Hydra opens the node for it
        key = f"train.{unknown[0]}"
        raise UserError(f"{key} is not a key of train: {did_you_mean(key, [f'train.{n}' for n in train_fields()])}"
                        f"Fix: the key's right name, without the + (gan-run --cfg job prints the whole config).")
    checks = {f"train.{name}": (lambda v, f=f: f.metadata["check"](v), f.metadata["meaning"])
              for name, f in train_fields().items()}
    checks.update({f"train.critic_bursts.{f.name}": (lambda v, f=f: f.metadata["check"](v), f.metadata["meaning"])
                   for f in dataclasses.fields(CriticBurstsConfig)})
    for key, (in_range, meaning) in {**checks, **ROOT_RULES}.items():
        value = OmegaConf.select(cfg, key)
        if OmegaConf.is_list(value):
            value = list(value)
        if not in_range(value):
            raise UserError(f"{key} must be {meaning}, got {value!r}. Fix: gan-run {key}=<such a value>.")


def meaning_of(key: str) -> str | None:
    """What `key` must be, in words, when the schema knows it (for the messages of a composition that failed)."""
    name = key.removeprefix("train.")
    if key.startswith("train.") and name in train_fields():
        return train_fields()[name].metadata["meaning"]
    return ROOT_RULES[key][1] if key in ROOT_RULES else None
