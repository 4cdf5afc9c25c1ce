"""From a config to the parts of a run: the dataset, G and D (with their regularisers' set-up), the objective,
the optimisers and the metric. gan-sample and gan-eval rebuild a run's generator through `networks`, so a
checkpoint is read back exactly as training built it."""

from __future__ import annotations

import functools
import importlib.resources
import inspect
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gan_runner.engine import distributed
from gan_runner.errors import UserError
from gan_runner.engine.graphs import GraphedTrainingStep
from gan_runner.health import Health
from gan_runner.metrics import Metric
from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser, combination_warnings
from gan_runner.engine.state import EMA, TrainingState
from gan_runner.engine.step import Precision, TrainingStep
from gan_runner.engine.config import setting


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


def latent(cfg: DictConfig) -> Any:
    """The distribution of G's noise, the latent group's choice. A config saved before `latent` was a group
    names its option (`latent: uniform`; no key: normal), which is that option's file in conf/latent/."""
    chosen = setting(cfg, "latent")
    if isinstance(chosen, str):
        option = importlib.resources.files("gan_runner.conf") / "latent" / f"{chosen}.yaml"
        if not option.is_file():
            raise UserError(f"latent={chosen!r} is not an option of the latent group. Fix: latent=normal (z ~ "
                            "N(0, I)) or latent=uniform (z ~ U(-1, 1)), or a file of your own in conf/latent/.")
        return instantiate(OmegaConf.create(option.read_text()))
    return build(cfg, "latent")


def networks(cfg: DictConfig, data_shape: Any, num_classes: int | None
             ) -> tuple[nn.Module, nn.Module, dict[str, Regulariser]]:
    """G and D as the config builds them, after every regulariser's set-up (spectral normalisation wraps their
    layers), and the regularisers by name. G carries the distribution of its noise as `G.latent`."""
    G = build(cfg, "arch.generator", z_dim=cfg.z_dim, data_shape=data_shape, num_classes=num_classes)
    G.latent = latent(cfg)
    D = build(cfg, "arch.discriminator", data_shape=data_shape, num_classes=num_classes)
    regularisers: dict[str, Regulariser] = {name: build(cfg, f"regulariser.{name}") for name in cfg.regulariser}
    for regulariser in regularisers.values():
        regulariser.setup(G, D)
    return G, D, regularisers


@dataclass
class Run:
    """What a run is made of, besides its training state. `G` and `D` are the modules the steps call: the
    state's own, or their torch.compile'd versions (which share the state's parameters)."""

    dataset: Any
    num_classes: int | None
    objective: Objective
    metric: Metric
    warnings: list[str]
    precision: Precision
    G: nn.Module
    D: nn.Module
    step: TrainingStep  # n_critic D updates and a G update: eager, or replayed from a CUDA graph


def configure_device(cfg: DictConfig, device: torch.device) -> None:
    """On CUDA: TF32 matrix products and convolutions (train.tf32; fp32's range with a 10-bit mantissa, 
    as cuDNN and cuBLAS offer them on Ampere and later) and cuDNN's autotuner for the fixed shapes of a run."""
    if device.type == "cuda":
        tf32 = setting(cfg, "train.tf32")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True


def layout(device: torch.device, data_shape: Any, compiled: bool) -> torch.memory_format:
    """Channels-last (NHWC) for convolutional networks: the layout cuDNN's kernels use natively, and oneDNN's
    fastest on the CPU (about 10% per DCGAN step here). Not under torch.compile, which chooses layouts itself
    (and whose backward failed on channels-last weights in torch 2.11: a stride mismatch in
    convolution_backward, seen on an H100)."""
    if len(data_shape) == 3 and not compiled:
        return torch.channels_last
    return torch.preserve_format


def optimiser(cfg: DictConfig, network: str, parameters: Any, lr: float, device: torch.device,
              capturable: bool = False) -> torch.optim.Optimizer:
    """The optimizer group's choice for `network` ("g" or "d") at learning rate `lr`: fused into one kernel on
    CUDA where torch has a fused version (no host synchronisation, even with fp16's loss scaling), foreach
    otherwise (on the CPU: the same numbers as earlier versions); `capturable` (its state on the GPU, as a CUDA
    graph needs) where it has the option. A config saved before the group existed means Adam with
    train.betas."""
    make = build(cfg, f"optimizer.{network}") if OmegaConf.select(cfg, f"optimizer.{network}") else \
        functools.partial(torch.optim.Adam, betas=cfg.train.betas)
    options = dict(make.keywords)
    if "betas" in options:  # YAML gives a list, maybe with an integer 0; Adam wants two floats
        options["betas"] = tuple(float(b) for b in options["betas"])
    accepted = inspect.signature(make.func).parameters
    kernel = {"fused": True} if device.type == "cuda" and "fused" in accepted else \
        {"foreach": True} if "foreach" in accepted else {}
    if capturable and "capturable" in accepted:
        kernel["capturable"] = True
    return make.func(parameters, lr=lr, **options, **kernel)


def precision_warnings(precision: str, device: torch.device) -> list[str]:
    """fp16 on a CPU trains (3.7x slower than fp32 on a 2-core EPYC, same losses within rounding) for what it is
    worth in a smoke test of a GPU configuration, but never as a choice: said in the log and in summary.json."""
    if precision == "fp16" and device.type == "cpu":
        return ["train.precision=fp16 on the CPU: float16 arithmetic is emulated there, several times slower than "
                "fp32 (3.7x on a 2-core EPYC) and no more accurate; use train.precision=fp32, or bf16 on a CPU with "
                "AVX512-BF16 or AMX"]
    return []


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
    if setting(cfg, "train.sync_batchnorm"):
        G, D = distributed.sync_batchnorm(G, device), distributed.sync_batchnorm(D, device)
    configure_device(cfg, device)
    compiled = setting(cfg, "train.compile")
    memory_format = layout(device, dataset.shape, compiled)
    G, D = G.to(device, memory_format=memory_format), D.to(device, memory_format=memory_format)
    objective: Objective = build(cfg, "objective")
    warnings = combination_warnings(objective, regularisers, D) + precision_warnings(setting(cfg, "train.precision"), device)
    graphed = setting(cfg, "train.cuda_graph")
    opt_g = optimiser(cfg, "g", G.parameters(), cfg.train.lr_g, device, capturable=graphed)
    opt_d = optimiser(cfg, "d", D.parameters(), cfg.train.lr_d, device, capturable=graphed)
    ema = EMA(G, cfg.train.ema, setting(cfg, "train.ema_rampup"), setting(cfg, "train.ema_start"))
    metric: Metric = build(cfg, "metrics")
    metric.check(dataset)
    precision = Precision(setting(cfg, "train.precision"), device)
    # A config saved before the health group (a resumed older run): margin and singular values only.
    health: Health = build(cfg, "health") if setting(cfg, "health") is not None else Health()
    health.setup(G, D, dataset, cfg.z_dim, num_classes)
    state = TrainingState(G, D, ema, opt_g, opt_d, regularisers, precision, health)
    # torch.compile wraps the modules the steps call; the state keeps (and checkpoints) the originals.
    G_step, D_step = (torch.compile(G), torch.compile(D)) if compiled else (G, D)
    step = training_step(cfg, device, regularisers)(G_step, D_step, objective, precision,
                                                    setting(cfg, "train.separate_passes"), cfg.train.n_critic,
                                                    cfg.train.lr_g, cfg.train.lr_d)
    return Run(dataset, num_classes, objective, metric, warnings, precision, G_step, D_step, step), state


def training_step(cfg: DictConfig, device: torch.device, regularisers: dict[str, Any]) -> Any:
    """The class of the loop's step: TrainingStep, or with train.cuda_graph GraphedTrainingStep, after checking
    that a graph can record this run's step (one paragraph saying why not, and what to change)."""
    if not setting(cfg, "train.cuda_graph"):
        return TrainingStep
    reasons = []
    if device.type != "cuda":
        reasons.append(f"the run is on {device}: CUDA graphs need a CUDA GPU")
    if setting(cfg, "train.precision") == "fp16":
        reasons.append("train.precision=fp16: its loss scaler decides on the host whether each update is "
                       "skipped; use train.precision=bf16 (no scaler)")
    if setting(cfg, "train.compile"):
        reasons.append("train.compile=true: choose one of the two")
    if distributed.active():
        reasons.append("the run has several processes: the gradients' exchange is not recorded")
    reasons += [f"regulariser {name} changes its work from step to step" for name, r in regularisers.items()
                if not r.replayable]
    if reasons:
        raise UserError(f"train.cuda_graph=true cannot record this run's step: {'; '.join(reasons)}. "
                        "Fix: those changes, or train.cuda_graph=false.")
    return functools.partial(GraphedTrainingStep, device=device)
