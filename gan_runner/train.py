"""The training loop: alternating discriminator and generator steps, an EMA of the generator, and the
cadence of logging, sampling, evaluation and checkpoints. Only this module talks to the logger."""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm.auto import tqdm

from gan_runner.arch import count_parameters
from gan_runner.checkpoint import rng_state, save_checkpoint
from gan_runner.data import Batch
from gan_runner.errors import UserError
from gan_runner.loggers import Logger
from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser, combination_warnings
from gan_runner.sample import draw
from gan_runner.visualise import image_grid, loss_curves, save_png, scatter_plot

log = logging.getLogger(__name__)


class EMA:
    """An exponential moving average of a model's weights: θ_ema <- decay θ_ema + (1 - decay) θ.
    Buffers (batch-norm statistics) are copied. Samples and evaluation use the averaged model."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for averaged, current in zip(self.model.parameters(), model.parameters()):
            averaged.lerp_(current, 1.0 - self.decay)
        for averaged, current in zip(self.model.buffers(), model.buffers()):
            averaged.copy_(current)


def d_step(
    G: nn.Module, D: nn.Module, objective: Objective, regularisers: dict[str, Regulariser],
    optimiser: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor, step: int,
) -> dict[str, float]:
    with torch.no_grad():
        fake = G(z)
    # One forward pass over real and fake together, so batch statistics see both halves alike.
    real_scores, fake_scores = D(torch.cat([real, fake])).split([len(real), len(fake)])
    loss = objective.d_loss(real_scores, fake_scores)
    stats = {"loss/d": loss.item(), "d/real": real_scores.mean().item(), "d/fake": fake_scores.mean().item()}
    for name, regulariser in regularisers.items():
        term, raw = regulariser.scaled_penalty(step, D, real, fake, real_scores, fake_scores)
        if term is not None:
            loss = loss + term
            stats[f"reg/{name}"] = raw.item()
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    for regulariser in regularisers.values():
        regulariser.after_d_step(D)
    return stats


def g_step(
    G: nn.Module, D: nn.Module, objective: Objective, regularisers: dict[str, Regulariser],
    optimiser: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor, step: int,
) -> dict[str, float]:
    D.requires_grad_(False)  # G's loss needs gradients through D, not for it
    fake = G(z)
    if objective.g_needs_real_scores:
        real_scores, fake_scores = D(torch.cat([real, fake])).split([len(real), len(fake)])
    else:
        real_scores, fake_scores = None, D(fake)
    loss = objective.g_loss(fake_scores, real_scores)
    stats = {"loss/g": loss.item()}
    for name, regulariser in regularisers.items():
        term, raw = regulariser.scaled_generator_penalty(step)
        if term is not None:
            loss = loss + term
            stats[f"reg_g/{name}"] = raw.item()
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    D.requires_grad_(True)
    return stats


class RunRecord:
    """The run directory's metrics.jsonl and sample images, mirrored to the logger."""

    def __init__(self, run_dir: Path, logger: Logger) -> None:
        self.run_dir, self.logger = run_dir, logger
        self.metrics_file = run_dir / "metrics.jsonl"
        self.latest: dict[str, float] = {}

    def log(self, values: dict[str, float], step: int) -> None:
        self.latest.update(values)
        with open(self.metrics_file, "a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")
        self.logger.log(values, step)

    def image(self, key: str, image: np.ndarray, file: Path, step: int) -> None:
        save_png(image, self.run_dir / file)
        self.logger.log_image(key, image, step)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={device} was asked for, but PyTorch sees no CUDA GPU here. "
                        "Fix: use train.device=auto (CUDA when present, else CPU) or train.device=cpu.")
    return torch.device(device)


def validate(cfg: DictConfig) -> None:
    """Checks the values that would otherwise fail deep inside training, before any work starts."""
    t = cfg.train
    positive = {"train.steps": t.steps, "train.batch_size": t.batch_size, "train.n_critic": t.n_critic,
                "train.log_every": t.log_every, "train.sample_every": t.sample_every,
                "train.checkpoint_every": t.checkpoint_every, "train.lr_g": t.lr_g, "train.lr_d": t.lr_d,
                "z_dim": cfg.z_dim}
    for key, value in positive.items():
        if not value > 0:
            raise UserError(f"{key} must be positive, got {value}. Fix: e.g. gan-run {key}=<a positive number>.")
    if not 0 <= t.lr_end_factor <= 1:
        raise UserError(f"train.lr_end_factor is where the learning rates end, as a fraction of where they start, "
                        f"and must lie in [0, 1], got {t.lr_end_factor}. Fix: 1.0 keeps them constant.")
    if not 0 <= t.ema < 1:
        raise UserError(f"train.ema is the decay of the generator's moving average and must lie in [0, 1), "
                        f"got {t.ema}. Fix: train.ema=0.999 for a long average, train.ema=0 to sample G itself.")


def build(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """`instantiate(cfg.<key>)`; a constructor's refusal of its arguments (a UserError or a ValueError)
    becomes a UserError that names the config key, so the CLI prints it as one paragraph."""
    try:
        return instantiate(OmegaConf.select(cfg, key), **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, ValueError):
            raise UserError(f"{key}: {cause}.") from None
        raise


def train(cfg: DictConfig, run_dir: Path, name: str = "run", group: str | None = None) -> dict[str, Any]:
    """Trains one GAN as `cfg` describes, writing everything under `run_dir`; returns the summary."""
    started = time.time()
    validate(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.train.device)

    dataset = build(cfg, "dataset")
    G = build(cfg, "arch.generator", z_dim=cfg.z_dim, data_shape=dataset.shape).to(device)
    D = build(cfg, "arch.discriminator", data_shape=dataset.shape).to(device)
    objective: Objective = build(cfg, "objective")
    regularisers: dict[str, Regulariser] = {name: build(cfg, f"regulariser.{name}") for name in cfg.regulariser}
    for regulariser in regularisers.values():
        regulariser.setup(G, D)
    warnings = combination_warnings(objective, regularisers)
    for message in warnings:
        log.warning("%s.", message)
    G_ema = EMA(G, cfg.train.ema)
    betas = tuple(cfg.train.betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.train.lr_g, betas=betas, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.train.lr_d, betas=betas, foreach=True)
    # Both learning rates move linearly to lr x lr_end_factor over the run (1.0: constant; SNGAN decays to 0).
    schedules = [torch.optim.lr_scheduler.LinearLR(opt, 1.0, cfg.train.lr_end_factor, cfg.train.steps)
                 for opt in (opt_g, opt_d)]
    metric = build(cfg, "metrics")
    metric.check(dataset)

    logger: Logger = build(cfg, "logger")
    logger.start(OmegaConf.to_container(cfg, resolve=True), run_dir, name, group)
    record = RunRecord(run_dir, logger)
    batches: Iterator[Batch] = dataset.batches(cfg.train.batch_size, torch.Generator().manual_seed(cfg.seed))
    fixed = torch.Generator().manual_seed(cfg.seed + 1)  # evaluation draws never disturb training's RNG
    fixed_z = torch.randn(64, cfg.z_dim, generator=fixed).to(device)

    def sample(n: int) -> torch.Tensor:  # the same z at every evaluation, from the EMA generator
        return draw(G_ema.model, cfg.z_dim, n, seed=cfg.seed + 2, device=device)

    def draw_samples(step: int) -> None:
        with torch.no_grad():
            fake = G_ema.model(fixed_z)
        if fake.dim() == 4:
            record.image("samples", image_grid(fake), Path("samples") / f"step_{step:06d}.png", step)
        else:  # 2-D data: samples over the real mixture and D's landscape
            real, _ = dataset.sample(1000, torch.Generator().manual_seed(cfg.seed + 3))
            picture = scatter_plot(sample(1000), real, lambda x: D.eval()(x.to(device)), f"step {step}")
            D.train()
            record.image("samples", picture, Path("samples") / f"step_{step:06d}.png", step)

    def checkpoint(step: int) -> None:
        save_checkpoint(run_dir / "checkpoints" / "last.pt", {
            "step": step, "config": OmegaConf.to_container(cfg), "data_shape": list(dataset.shape),
            "G": G.state_dict(), "D": D.state_dict(),
            "G_ema": G_ema.model.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "schedules": [schedule.state_dict() for schedule in schedules],
            "regularisers": {name: r.state_dict() for name, r in regularisers.items()},
            "rng": rng_state(),
        })

    d_steps = 0
    progress = tqdm(range(1, cfg.train.steps + 1), unit="step", desc=name, mininterval=1.0, dynamic_ncols=True)
    for step in progress:
        for _ in range(cfg.train.n_critic):
            real, _ = next(batches)
            real = real.to(device)
            z = torch.randn(len(real), cfg.z_dim, device=device)
            d_stats = d_step(G, D, objective, regularisers, opt_d, real, z, d_steps)
            d_steps += 1
        z = torch.randn(len(real), cfg.z_dim, device=device)
        g_stats = g_step(G, D, objective, regularisers, opt_g, real, z, step - 1)
        G_ema.update(G)
        for schedule in schedules:
            schedule.step()

        if step % cfg.train.log_every == 0 or step == cfg.train.steps:
            record.log({**d_stats, **g_stats}, step)
            progress.set_postfix({"d": f"{d_stats['loss/d']:.3f}", "g": f"{g_stats['loss/g']:.3f}"}, refresh=False)
        if metric.every and step % metric.every == 0 and step < cfg.train.steps:
            record.log(metric(sample, dataset), step)
        if step % cfg.train.sample_every == 0 and step < cfg.train.steps:
            draw_samples(step)
        if step % cfg.train.checkpoint_every == 0:
            checkpoint(step)
    progress.close()

    step = cfg.train.steps
    final_metrics = metric(sample, dataset)
    if final_metrics:
        record.log(final_metrics, step)
    draw_samples(step)
    checkpoint(step)
    curves = loss_curves(record.metrics_file)
    if curves is not None:
        record.image("loss_curves", curves, Path("loss_curves.png"), step)
    summary: dict[str, Any] = {
        "status": "completed",
        "step": step,
        "wall_time_s": round(time.time() - started, 2),
        "device": str(device),
        "params": {"generator": count_parameters(G), "discriminator": count_parameters(D)},
        "metrics": final_metrics,
        "warnings": warnings,
        "final_losses": {k: v for k, v in record.latest.items() if k.split("/")[0] in ("loss", "reg", "reg_g", "d")},
    }
    logger.summary({**final_metrics, "status": "completed", "params/generator": summary["params"]["generator"],
                    "params/discriminator": summary["params"]["discriminator"]})
    summary["wandb"] = logger.finish() or None
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
