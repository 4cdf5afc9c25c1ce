"""From a config to the parts of a run: the dataset, G and D (with their regularisers' set-up), the objective, the
optimisers, the metric and the training state (`build_parts`), then the step that trains them (`build_step`).
The loop, gan-sample and gan-eval, the benchmarks, the profiler and the tests all build through here, so a
checkpoint is read back exactly as training built it and a benchmark measures the step the loop runs."""

from __future__ import annotations

import difflib
import inspect
import logging
import random
import re
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gan_runner import distributed
from gan_runner.engine.graphs import GraphedTrainingStep
from gan_runner.engine.state import EMA, TrainingState
from gan_runner.engine.step import CriticBursts, Precision, Schedule, StepSettings, TrainingStep
from gan_runner.engine.threads import set_threads
from gan_runner.errors import UserError
from gan_runner.health import Health
from gan_runner.metrics import Metric
from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser, combination_warnings

log = logging.getLogger("gan_runner")


def build(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """`instantiate(cfg.<key>)`; a constructor's refusal of its arguments (a UserError or a ValueError), an option it
    does not take, or a `_target_` that cannot be imported, becomes a UserError that names the config key."""
    node = OmegaConf.select(cfg, key)
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, ValueError):
            raise UserError(f"{key}: {cause}.") from None
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(cause))
        if isinstance(cause, TypeError) and unexpected:
            raise UserError(unknown_option(key, node, unexpected.group(1))) from None
        untaken = [name for name in node if not name.startswith("_") and not takes_option(node._target_, name)] \
            if isinstance(cause, TypeError) and "_target_" in node else []
        if untaken:  # "X() takes no arguments": a constructor without parameters names none
            raise UserError(unknown_option(key, node, untaken[0])) from None
        if isinstance(cause, ImportError) or "Error locating target" in str(error):
            raise UserError(f"{key}: {str(error).splitlines()[0]} Fix: check the _target_ in its YAML file; a "
                            "component of your own must be importable (run gan-run from the folder that holds "
                            "its module, or add that folder to PYTHONPATH).") from None
        raise


def parameters_of(target: str) -> dict[str, inspect.Parameter]:
    """The parameters of the callable a `_target_` names (a class's constructor's), imported as instantiate would."""
    return dict(inspect.signature(instantiate({"_target_": target, "_partial_": True}).func).parameters)


def takes_option(target: str, name: str) -> bool:
    """Whether the component `target` takes an option `name`: one of its parameters, or any name at all when it
    declares free-form options with a **kwargs parameter (how a component says it reads keys it does not list)."""
    try:
        parameters = parameters_of(target)
    except (ValueError, TypeError):  # a callable without a readable signature (some builtins): it may take anything
        return True
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def unknown_option(key: str, node: DictConfig, name: str) -> str:
    """The paragraph for `key.name`, an option the component `node._target_` does not take."""
    target = node.get("_target_")
    taken = [option for option, p in parameters_of(target).items() if option != "self" and p.kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)] if target else []
    close = difflib.get_close_matches(name, taken, n=1)
    hint = f"did you mean {key}.{close[0]}? " if close else ""
    options = f"its options are {', '.join(taken)}" if taken else "it takes no options"
    fix = f"gan-run ... {key}.{close[0]}=VALUE (and drop {key}.{name})" if close else \
        f"drop {key}.{name}{', or give one of its options' if taken else ''}"
    return f"{key}.{name} is not an option of {target}: {hint}{options}. Fix: {fix}."


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={device} was asked for, but PyTorch sees no CUDA GPU here. "
                        "Fix: use train.device=auto (CUDA when present, else CPU) or train.device=cpu.")
    return torch.device(device)


def class_count(cfg: DictConfig, dataset: Any) -> int | None:
    """The number of classes G and D are conditioned on: the dataset's with conditional=true, else None."""
    if not cfg.conditional:
        return None
    if dataset.num_classes is None:
        raise UserError(f"conditional=true needs class labels, but the dataset ({cfg.dataset._target_}) has none. "
                        "Fix: choose a labelled dataset (digits, mnist, fashion_mnist, cifar10, image_folder "
                        "with every image in a subfolder per class), or set conditional=false.")
    return int(dataset.num_classes)


def check_batches_fit(dataset: Any, batches: dict[str, int]) -> None:
    """Refuses a batch larger than the dataset (each epoch is one pass over it, batches drawn without repeats), naming
    the key that sets it; a dataset without a length (the 2-D mixtures draw fresh samples) takes any batch."""
    try:
        size = len(dataset)
    except TypeError:
        return
    for key, batch in batches.items():
        if batch > size:
            raise UserError(f"{key}={batch} is larger than the dataset, which holds {size} training samples: each "
                            f"epoch is one pass over the data in batches drawn without repeats. Fix: {key}={size} or "
                            "less (a power of two such as 64 is usual), or a larger dataset.")


def game_of(cfg: DictConfig) -> Any:
    """The run's game (conf/game/); a config saved before games were a choice has none: noise_to_data's."""
    if OmegaConf.select(cfg, "game") is None:
        return instantiate({"_target_": "gan_runner.game.noise_to_data.NoiseToData"})
    return build(cfg, "game")


def augment_of(cfg: DictConfig, dataset: Any) -> nn.Module:
    """What D sees in training (conf/augment/: none, diffaugment, ada), checked against the dataset's samples; a
    config saved before augmentation has none."""
    if OmegaConf.select(cfg, "augment") is None:
        return instantiate({"_target_": "gan_runner.augment.NoAugment"})
    augment = build(cfg, "augment")
    augment.check(tuple(dataset.shape), getattr(dataset, "source_shape", None) is not None)
    return augment


@dataclass(frozen=True)
class Shapes:
    """What a game needs of a dataset to build its networks: one sample's shape and, in a paired game, one source's
    (what a checkpoint keeps of its dataset)."""

    shape: tuple
    source_shape: tuple | None = None


def networks(cfg: DictConfig, data_shape: Any, num_classes: int | None, source_shape: Any = None,
             game: Any = None) -> tuple[nn.Module, nn.Module, dict[str, Regulariser]]:
    """G and D as the run's game builds them from the arch group, after every regulariser's set-up (spectral
    normalisation wraps their layers), and the regularisers by name."""
    game = game or game_of(cfg)
    shapes = Shapes(tuple(data_shape), None if source_shape is None else tuple(source_shape))
    G, D = game.networks(cfg, shapes, num_classes)
    regularisers: dict[str, Regulariser] = {name: build(cfg, f"regulariser.{name}") for name in cfg.regulariser}
    for regulariser in regularisers.values():
        regulariser.setup(G, D)
    return G, D, regularisers


def configure_device(cfg: DictConfig, device: torch.device) -> None:
    """On CUDA: TF32 matrix products and convolutions (train.tf32; fp32's range with a 10-bit mantissa, as cuDNN
    and cuBLAS offer them on Ampere and later) and cuDNN's autotuner for the fixed shapes of a run."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.train.tf32
        torch.backends.cudnn.allow_tf32 = cfg.train.tf32
        torch.backends.cudnn.benchmark = True


def layout(device: torch.device, data_shape: Any, compiled: bool) -> torch.memory_format:
    """Channels-last (NHWC) for convolutional networks: the layout cuDNN's kernels use natively, and oneDNN's
    fastest on the CPU (about 10% per DCGAN step here). Not under torch.compile, which chooses layouts itself
    (and whose backward failed on channels-last weights in torch 2.11: a stride mismatch in
    convolution_backward, seen on an H100)."""
    if len(data_shape) == 3 and not compiled:
        return torch.channels_last
    return torch.preserve_format


def lazy_ratio(regularisers: dict[str, Regulariser], network: str) -> float:
    """stylegan2-ada's mb_ratio k/(k+1) for `network` ("g" or "d") when a regulariser takes an optimiser step of its
    own every k steps (own_step), else 1 (training/training_loop.py l.201-205): its optimiser's learning rate is
    multiplied by it and its betas raised to it, so that the k main steps and the one extra move the weights and
    age the moments as k steps would. One such regulariser a network (the official code has one Greg/Dreg phase)."""
    lazy = {name: r.every for name, r in regularisers.items() if r.own_step and r.regularises == network}
    if len(lazy) > 1:
        raise UserError(f"regularisers {', '.join(sorted(lazy))} each take an optimiser step of their own on "
                        f"{network.upper()}: StyleGAN2's lazy correction of the learning rate and betas (k/(k+1)) is "
                        "defined for one such regulariser a network. Fix: keep one of them, or set own_step=false "
                        f"on the others (regulariser.NAME.own_step=false adds its term to {network.upper()}'s loss).")
    every = next(iter(lazy.values()), None)
    return 1.0 if every is None else every / (every + 1)


def optimiser(cfg: DictConfig, network: str, parameters: Any, lr: float, device: torch.device,
              capturable: bool = False, ratio: float = 1.0) -> torch.optim.Optimizer:
    """The optimizer group's choice for `network` ("g" or "d") at learning rate `lr`: fused into one kernel on
    CUDA where torch has a fused version (no host synchronisation, even with fp16's loss scaling), foreach
    otherwise (on the CPU: the same numbers as earlier versions); `capturable` (its state on the GPU, as a CUDA
    graph needs) where it has the option. `ratio` (lazy_ratio) multiplies the learning rate and is the power of
    Adam's betas (the schedule's rates carry it too: build_step)."""
    make = build(cfg, f"optimizer.{network}")
    options = dict(make.keywords)
    if "betas" in options:  # YAML gives a list, maybe with an integer 0; Adam wants two floats
        options["betas"] = tuple(float(b) ** ratio for b in options["betas"])
    lr = lr * ratio
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


@dataclass
class Parts:
    """What a run is made of: its data, game, objective, metric, the warnings about its combination, the device, and its
    training state (G, D, the moving average, optimisers, regularisers, precision, health)."""

    dataset: Any
    num_classes: int | None
    game: Any  # gan_runner.game.Game
    objective: Objective
    metric: Metric
    warnings: list[str]
    device: torch.device
    state: TrainingState
    graphed: bool = False  # the step is recorded as a CUDA graph (train.cuda_graph)
    threads: str = ""      # torch's CPU threads and why (train.threads), for the log's start line


def build_parts(cfg: DictConfig) -> Parts:
    """Every part of a run, built after seeding every RNG with cfg.seed (weights and spectral norm's vectors start
    from random draws), on train.device."""
    device = resolve_device(cfg.train.device)
    threads = set_threads(cfg.train.threads)
    seed_everything(cfg.seed)
    dataset = build(cfg, "dataset")
    game = game_of(cfg)
    game.check(cfg, dataset)
    check_batches_fit(dataset, game.global_batches(cfg, dataset))
    num_classes = class_count(cfg, dataset)
    augment = augment_of(cfg, dataset)
    G, D, regularisers = networks(cfg, dataset.shape, num_classes, getattr(dataset, "source_shape", None), game)
    if cfg.train.sync_batchnorm:
        G, D = distributed.sync_batchnorm(G, device), distributed.sync_batchnorm(D, device)
    configure_device(cfg, device)
    memory_format = layout(device, dataset.shape, cfg.train.compile)
    G, D = G.to(device, memory_format=memory_format), D.to(device, memory_format=memory_format)
    objective: Objective = build(cfg, "objective")
    warnings = combination_warnings(objective, regularisers, D) + precision_warnings(cfg.train.precision, device)
    graphed = records_a_graph(cfg.train.cuda_graph, device, graph_refusals(cfg, device, regularisers) +
                              game.graph_refusals())
    opt_g = optimiser(cfg, "g", G.parameters(), cfg.train.lr_g, device, graphed, lazy_ratio(regularisers, "g"))
    opt_d = optimiser(cfg, "d", D.parameters(), cfg.train.lr_d, device, graphed, lazy_ratio(regularisers, "d"))
    ema = EMA(G, cfg.train.ema, cfg.train.ema_rampup, cfg.train.ema_start, cfg.train.ema_kimg)
    metric: Metric = build(cfg, "metrics")
    metric.check(dataset)
    health: Health = build(cfg, "health")
    health.setup(G, D, dataset, game.diversity_inputs(cfg, num_classes, getattr(G, "latent", None)))
    state = TrainingState(G, D, ema, opt_g, opt_d, regularisers, Precision(cfg.train.precision, device), health,
                          game.kind, augment.to(device), game.state_parts(cfg))
    return Parts(dataset, num_classes, game, objective, metric, warnings, device, state, graphed, threads)


def process_batches(dataset: Any, batch_size: int, generator: torch.Generator, start: int,
                    device: torch.device) -> Iterator:
    """This process's slice of each global batch of the dataset's seeded order (the order does not depend on the
    number of processes): read alone by a dataset that reads its share (a memory map then serves each process only
    its own images), else cut from the global batch."""
    if getattr(dataset, "reads_its_share", False):
        return dataset.batches(batch_size, generator, start, device, rows=distributed.rows(batch_size))
    return distributed.shard_batches(dataset.batches(batch_size, generator, start, device))


def build_step(cfg: DictConfig, parts: Parts) -> TrainingStep:
    """The loop's step for the parts' state as it is now (a resumed state's data order continues at its D step):
    eager, or with train.cuda_graph recorded once and replayed (after checking that a graph can record it)."""
    state, device = parts.state, parts.device
    batch_size = parts.game.batch_size(cfg, state)  # the game's phase may set its own (progressive growing)
    data = process_batches(parts.dataset, batch_size, torch.Generator().manual_seed(cfg.seed), state.d_steps, device)
    train = cfg.train
    g_batch = None if train.g_batch_size is None else distributed.share(train.g_batch_size, "train.g_batch_size")
    inputs = parts.game.input_stream(data, cfg, parts.num_classes, device, getattr(state.G, "latent", None),
                                     g_batch)
    regularisers = state.regularisers  # the schedule sets the rates each step: StyleGAN2's lazy correction with them
    schedule = Schedule(train.lr_g * lazy_ratio(regularisers, "g"), train.lr_d * lazy_ratio(regularisers, "d"),
                        train.lr_end_factor, train.steps, train.lr_decay, train.lr_min,
                        OmegaConf.select(cfg, "optimizer.g.momentum"), train.momentum_end, train.momentum_steps,
                        train.lr_decay_start, train.lr_drop_at, train.lr_drop_factor)
    bursts = CriticBursts(**train.critic_bursts) if train.critic_bursts.n_critic is not None else None
    # A discriminator that compares the samples of its batch (minibatch standard deviation: `compares_samples`) is
    # shown real and fake in passes of their own, as stylegan2-ada's loss.py scores them (l.99, l.112): one pass over
    # both would put real and fake samples into the same groups.
    separate_passes = train.separate_passes or getattr(state.D, "compares_samples", False)
    settings = StepSettings(schedule, train.n_critic, batch_size, separate_passes, train.compile,
                            train.simultaneous, train.d_loss_scale, bursts)
    if not parts.graphed:
        return TrainingStep(state, inputs, parts.objective, settings, parts.game)
    return GraphedTrainingStep(state, inputs, parts.objective, settings, parts.game, device=device)


def records_a_graph(setting: bool | str, device: torch.device, reasons: list[str]) -> bool:
    """Whether the step is recorded as a CUDA graph for train.cuda_graph=`setting`, given why it cannot be
    (`reasons`, none: it can): auto records when it can and says why not on CUDA in one log line; true refuses
    with the reasons; false never records."""
    if setting is False:
        return False
    if setting is True and reasons:
        raise UserError(f"train.cuda_graph=true cannot record this run's step: {'; '.join(reasons)}. "
                        "Fix: those changes, or train.cuda_graph=auto (records when it can) or false.")
    if reasons and device.type == "cuda":
        log.info("CUDA graph off (train.cuda_graph=auto): %s", "; ".join(reasons))
    return not reasons


def graph_refusals(cfg: DictConfig, device: torch.device, regularisers: dict[str, Regulariser]) -> list[str]:
    """Why a CUDA graph cannot record this run's step (none: it can)."""
    reasons = []
    if device.type != "cuda":
        reasons.append(f"the run is on {device}: CUDA graphs need a CUDA GPU")
    if cfg.train.precision == "fp16":
        reasons.append("train.precision=fp16: its loss scaler decides on the host whether each update is "
                       "skipped; use train.precision=bf16 (no scaler)")
    if cfg.train.compile:
        reasons.append("train.compile=true: choose one of the two")
    if distributed.active():
        reasons.append("the run has several processes: the gradients' exchange is not recorded")
    if cfg.train.critic_bursts.n_critic is not None:
        reasons.append("train.critic_bursts changes the step's number of D updates")
    if cfg.train.momentum_end is not None:
        reasons.append("train.momentum_end changes the optimisers' momentum, which a graph reads as recorded")
    reasons += [f"regulariser {name} changes its work from step to step" for name, r in regularisers.items()
                if not r.replayable]
    return reasons

