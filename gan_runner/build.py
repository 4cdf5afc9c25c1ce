"""From a config to the parts of a run: the dataset, G and D (with their regularisers' set-up), the objective,
the optimisers and the metric. gan-sample and gan-eval rebuild a run's generator through `networks`, so a
checkpoint is read back exactly as training built it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gan_runner.errors import UserError
from gan_runner.metrics import Metric
from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser, combination_warnings
from gan_runner.state import EMA, TrainingState


def build(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """`instantiate(cfg.<key>)`; a constructor's refusal of its arguments (a UserError or a ValueError), or a
    `_target_` that cannot be imported, becomes a UserError that names the config key."""
    node = OmegaConf.select(cfg, key)
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, ValueError):
            raise UserError(f"{key}: {cause}.") from None
        if isinstance(cause, ImportError) or "Error locating target" in str(error):
            raise UserError(f"{key}: {str(error).splitlines()[0]} Fix: check the _target_ in its YAML file; a "
                            "component of your own must be importable (run gan-run from the folder that holds "
                            "its module, or add that folder to PYTHONPATH).") from None
        raise


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={device} was asked for, but PyTorch sees no CUDA GPU here. "
                        "Fix: use train.device=auto (CUDA when present, else CPU) or train.device=cpu.")
    return torch.device(device)


def class_count(cfg: DictConfig, dataset: Any) -> int | None:
    """The number of classes G and D are conditioned on: the dataset's with conditional=true, else None."""
    if not OmegaConf.select(cfg, "conditional", default=False):
        return None
    if dataset.num_classes is None:
        raise UserError(f"conditional=true needs class labels, but the dataset ({cfg.dataset._target_}) has none. "
                        "Fix: choose a labelled dataset (digits, mnist, fashion_mnist, cifar10, or image_folder "
                        "with every image in a subfolder per class), or set conditional=false.")
    return int(dataset.num_classes)


def networks(cfg: DictConfig, data_shape: Any, num_classes: int | None
             ) -> tuple[nn.Module, nn.Module, dict[str, Regulariser]]:
    """G and D as the config builds them, after every regulariser's set-up (spectral normalisation wraps their
    layers), and the regularisers by name."""
    G = build(cfg, "arch.generator", z_dim=cfg.z_dim, data_shape=data_shape, num_classes=num_classes)
    D = build(cfg, "arch.discriminator", data_shape=data_shape, num_classes=num_classes)
    regularisers: dict[str, Regulariser] = {name: build(cfg, f"regulariser.{name}") for name in cfg.regulariser}
    for regulariser in regularisers.values():
        regulariser.setup(G, D)
    return G, D, regularisers


@dataclass
class Run:
    """What a run is made of, besides its training state."""

    dataset: Any
    num_classes: int | None
    objective: Objective
    metric: Metric
    warnings: list[str]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_parts(cfg: DictConfig, device: torch.device) -> tuple[Run, TrainingState]:
    """Every part of a run, built after seeding every RNG with cfg.seed (weights and spectral norm's vectors
    start from random draws)."""
    seed_everything(cfg.seed)
    dataset = build(cfg, "dataset")
    num_classes = class_count(cfg, dataset)
    G, D, regularisers = networks(cfg, dataset.shape, num_classes)
    G, D = G.to(device), D.to(device)
    objective: Objective = build(cfg, "objective")
    warnings = combination_warnings(objective, regularisers, D)
    betas = tuple(float(b) for b in cfg.train.betas)  # Adam refuses a mix of int and float
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.train.lr_g, betas=betas, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.train.lr_d, betas=betas, foreach=True)
    ema = EMA(G, cfg.train.ema, OmegaConf.select(cfg, "train.ema_rampup"))
    metric: Metric = build(cfg, "metrics")
    metric.check(dataset)
    return Run(dataset, num_classes, objective, metric, warnings), TrainingState(G, D, ema, opt_g, opt_d, regularisers)
