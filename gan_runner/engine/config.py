"""Checks of the values that would otherwise fail deep inside training, made before any work starts. (The
components check their own options when they are built, also before training: see build.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gan_runner.errors import UserError


def _number(kind: type) -> Any:
    """A test that a value is a `kind` (an int counts as a float; a bool counts as neither)."""
    allowed = (int,) if kind is int else (int, float)
    return lambda value: isinstance(value, allowed) and not isinstance(value, bool)


def _optional_fraction(value: Any) -> bool:
    return value is None or (_number(float)(value) and 0 <= value <= 1)


# key: (is the right type, is in range, what it must be)
TRAIN_RULES = {
    "steps": (_number(int), lambda v: v > 0, "a positive whole number of generator updates"),
    "batch_size": (_number(int), lambda v: v > 0, "a positive whole number"),
    "n_critic": (_number(int), lambda v: v > 0, "a positive whole number of D updates per G update"),
    "log_every": (_number(int), lambda v: v > 0, "a positive whole number of steps"),
    "sample_every": (_number(int), lambda v: v > 0, "a positive whole number of steps"),
    "checkpoint_every": (_number(int), lambda v: v > 0, "a positive whole number of steps"),
    "keep_checkpoints": (_number(int), lambda v: v > 0, "a positive whole number (1: last.pt alone)"),
    "lr_g": (_number(float), lambda v: v > 0, "a positive number"),
    "lr_d": (_number(float), lambda v: v > 0, "a positive number"),
    "lr_end_factor": (_number(float), lambda v: 0 <= v <= 1,
                      "where the learning rates end as a fraction of where they start, in [0, 1] (1.0: constant)"),
    "ema": (_number(float), lambda v: 0 <= v < 1, "the decay of the generator's moving average, in [0, 1) "
            "(0.999 for a long average, 0 to sample G itself)"),
    "ema_rampup": (_optional_fraction, lambda v: True, "the largest half-life of the moving average as a fraction "
                   "of the steps done so far, in [0, 1] (0.05 as stylegan2-ada; null or 0: no ramp)"),
    "ema_start": (_number(int), lambda v: v >= 0, "the G update after which averaging starts, a whole number "
                  "(0: from the first; BigGAN: 20000)"),
    "precision": (lambda v: v in ("fp32", "bf16", "fp16"), lambda v: True,
                  "fp32, bf16 or fp16 (autocast; fp16 also scales the losses)"),
    "compile": (lambda v: isinstance(v, bool), lambda v: True, "true (torch.compile G and D) or false"),
    "cuda_graph": (lambda v: isinstance(v, bool), lambda v: True,
                   "true (the step recorded as a CUDA graph and replayed) or false"),
    "tf32": (lambda v: isinstance(v, bool), lambda v: True,
             "true (TF32 matrix products and convolutions on CUDA, the default) or false (exact fp32)"),
    "separate_passes": (lambda v: isinstance(v, bool), lambda v: True,
                        "true (D scores real and fake in a pass each) or false (one pass over both)"),
    "reuse_fakes": (lambda v: isinstance(v, bool), lambda v: True,
                    "true (G's update scores the fakes of D's) or false (fresh z)"),
    "sync_batchnorm": (lambda v: isinstance(v, bool), lambda v: True,
                       "true (batch statistics over all processes' samples, CUDA) or false (each process's own)"),
    "collective_timeout_s": (_number(float), lambda v: v > 0, "a positive number of seconds"),
}


# Keys added after runs were saved: a resumed run's config may lack them, and then has these values.
LATER_DEFAULTS = {"train.ema_rampup": None, "train.ema_start": 0, "train.precision": "fp32", "train.compile": False,
                  "train.tf32": True, "latent": "normal", "health": None, "train.separate_passes": False,
                  "train.reuse_fakes": False, "train.sync_batchnorm": False, "train.collective_timeout_s": 600,
                  "train.cuda_graph": False}


def setting(cfg: DictConfig, key: str) -> Any:
    """cfg's value at `key`, or the value that a config saved before the key existed means."""
    return OmegaConf.select(cfg, key, default=LATER_DEFAULTS.get(key))


def check_nothing_missing(cfg: DictConfig) -> None:
    """A value a config file leaves to the user (`???`, e.g. image_folder's dataset.root) and the user did not give:
    one paragraph naming each key, before anything is built."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        example = " ".join(f"{key}=..." for key in missing)
        raise UserError(f"{', '.join(missing)} must be given: the chosen config leaves {'them' if len(missing) > 1 else 'it'} "
                        f"to you (??? in its YAML file). Fix: gan-run ... {example} (e.g. dataset.root=/path/to/images "
                        "for dataset=image_folder).")


def validate(cfg: DictConfig) -> None:
    check_nothing_missing(cfg)
    rules = {f"train.{key}": rule for key, rule in TRAIN_RULES.items()}
    rules["z_dim"] = (_number(int), lambda v: v > 0, "a positive whole number")
    rules["seed"] = (_number(int), lambda v: True, "a whole number")
    for key, (right_type, in_range, meaning) in rules.items():
        value = setting(cfg, key)
        if not (right_type(value) and in_range(value)):
            raise UserError(f"{key} must be {meaning}, got {value!r}. Fix: gan-run {key}=<such a value>.")
    conditional = OmegaConf.select(cfg, "conditional", default=False)  # runs saved before the key existed lack it
    if not isinstance(conditional, bool):
        raise UserError(f"conditional must be true or false, got {conditional!r}. Fix: gan-run conditional=true "
                        "(class-conditional G and D) or conditional=false.")
    if setting(cfg, "train.reuse_fakes") and cfg.train.n_critic != 1:
        raise UserError(f"train.reuse_fakes=true scores the fakes of the one D update before each G update, but "
                        f"train.n_critic={cfg.train.n_critic}. Fix: train.reuse_fakes=false, or train.n_critic=1.")
    betas = cfg.train.betas
    if not (OmegaConf.is_list(betas) and len(betas) == 2 and all(_number(float)(b) and 0 <= b < 1 for b in betas)):
        raise UserError(f"train.betas must be Adam's two decay rates in [0, 1), got {betas}. "
                        "Fix: e.g. gan-run 'train.betas=[0.5,0.999]'.")


def check_writable(run_dir: Path) -> None:
    """Finds an unwritable run directory before training, not at the first checkpoint."""
    probe = run_dir / ".write-test"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"The run directory {run_dir} cannot be written ({error.strerror or error}). "
                        "Fix: choose a writable folder with hydra.run.dir=PATH (hydra.sweep.dir=PATH for "
                        "-m sweeps), or fix the folder's permissions.") from None
