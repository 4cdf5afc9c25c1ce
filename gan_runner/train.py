"""The training loop: alternating discriminator and generator steps, an EMA of the generator, and the
cadence of logging, sampling, evaluation and checkpoints. Only this module talks to the logger."""

from __future__ import annotations

import copy
import functools
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
from gan_runner.checkpoint import keep_latest, rng_state, save_checkpoint, set_rng_state
from gan_runner.data import Batch
from gan_runner.errors import UserError
from gan_runner.loggers import Logger
from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser, combination_warnings
from gan_runner.sample import draw_batches
from gan_runner.stopping import Diverged, StopSignals, check_finite, check_parameters
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


def _cat(real_y: torch.Tensor | None, fake_y: torch.Tensor | None) -> torch.Tensor | None:
    """The labels of D's joint pass over real and fake samples; None for an unconditional run."""
    return None if real_y is None else torch.cat([real_y, fake_y])


def d_step(
    G: nn.Module, D: nn.Module, objective: Objective, regularisers: dict[str, Regulariser],
    optimiser: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor, step: int,
    real_y: torch.Tensor | None = None, fake_y: torch.Tensor | None = None,
) -> dict[str, float]:
    """One discriminator update. `real_y`, `fake_y`: the class labels of a conditional run, else None."""
    with torch.no_grad():
        fake = G(z, fake_y)
    # One forward pass over real and fake together, so batch statistics see both halves alike.
    real_scores, fake_scores = D(torch.cat([real, fake]), _cat(real_y, fake_y)).split([len(real), len(fake)])
    loss = objective.d_loss(real_scores, fake_scores)
    stats = {"loss/d": loss.item(), "d/real": real_scores.mean().item(), "d/fake": fake_scores.mean().item()}
    # A penalty scores its own points (real, fake or in between, one per real sample) with the real labels:
    # exact for R1 and DRAGAN, the usual choice for WGAN-GP's interpolates, an approximation for R2's fakes.
    critic = D if real_y is None else functools.partial(D, y=real_y)
    for name, regulariser in regularisers.items():
        term, raw = regulariser.scaled_penalty(step, critic, real, fake, real_scores, fake_scores)
        if term is not None:
            loss = loss + term
            stats[f"reg/{name}"] = raw.item()
    check_finite(stats)  # before the update, so that a bad number never reaches the weights
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    for regulariser in regularisers.values():
        regulariser.after_d_step(D)
    return stats


def g_step(
    G: nn.Module, D: nn.Module, objective: Objective, regularisers: dict[str, Regulariser],
    optimiser: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor, step: int,
    real_y: torch.Tensor | None = None, fake_y: torch.Tensor | None = None,
) -> dict[str, float]:
    """One generator update; labels as in d_step."""
    D.requires_grad_(False)  # G's loss needs gradients through D, not for it
    fake = G(z, fake_y)
    if objective.g_needs_real_scores:
        real_scores, fake_scores = D(torch.cat([real, fake]), _cat(real_y, fake_y)).split([len(real), len(fake)])
    else:
        real_scores, fake_scores = None, D(fake, fake_y)
    loss = objective.g_loss(fake_scores, real_scores)
    stats = {"loss/g": loss.item()}
    for name, regulariser in regularisers.items():
        term, raw = regulariser.scaled_generator_penalty(step)
        if term is not None:
            loss = loss + term
            stats[f"reg_g/{name}"] = raw.item()
    check_finite(stats)
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


def _number(kind: type) -> Any:
    """A test that a value is a `kind` (an int counts as a float; a bool counts as neither)."""
    allowed = (int,) if kind is int else (int, float)
    return lambda value: isinstance(value, allowed) and not isinstance(value, bool)


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
}


def validate(cfg: DictConfig) -> None:
    """Checks the values that would otherwise fail deep inside training, before any work starts. (The
    components check their own options when they are built, also before training: see `build`.)"""
    rules = {f"train.{key}": rule for key, rule in TRAIN_RULES.items()}
    rules["z_dim"] = (_number(int), lambda v: v > 0, "a positive whole number")
    rules["seed"] = (_number(int), lambda v: True, "a whole number")
    for key, (right_type, in_range, meaning) in rules.items():
        value = OmegaConf.select(cfg, key)
        if not (right_type(value) and in_range(value)):
            raise UserError(f"{key} must be {meaning}, got {value!r}. Fix: gan-run {key}=<such a value>.")
    conditional = OmegaConf.select(cfg, "conditional", default=False)  # runs saved before the key existed lack it
    if not isinstance(conditional, bool):
        raise UserError(f"conditional must be true or false, got {conditional!r}. Fix: gan-run conditional=true "
                        "(class-conditional G and D) or conditional=false.")
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


def class_count(cfg: DictConfig, dataset: Any) -> int | None:
    """The number of classes G and D are conditioned on: the dataset's with conditional=true, else None."""
    if not OmegaConf.select(cfg, "conditional", default=False):
        return None
    if dataset.num_classes is None:
        raise UserError(f"conditional=true needs class labels, but the dataset ({cfg.dataset._target_}) has none. "
                        "Fix: choose a labelled dataset (digits, mnist, fashion_mnist, cifar10, or image_folder "
                        "with every image in a subfolder per class), or set conditional=false.")
    return int(dataset.num_classes)


def learning_rate_factor(cfg: DictConfig, updates_done: int) -> float:
    """Both learning rates move linearly from lr to lr x lr_end_factor over the run (1.0: constant; SNGAN
    decays to 0). A pure function of the step, so a resumed run (even one given more steps) needs no state."""
    return 1.0 + (cfg.train.lr_end_factor - 1.0) * min(updates_done, cfg.train.steps) / cfg.train.steps


def truncate_metrics(metrics_file: Path, step: int) -> None:
    """Drops rows logged after `step`: a run resumed from its checkpoint at `step` logs them again."""
    if metrics_file.is_file():
        rows = [row for row in metrics_file.read_text().splitlines() if row and json.loads(row)["step"] <= step]
        metrics_file.write_text("".join(row + "\n" for row in rows))


def train(cfg: DictConfig, run_dir: Path, name: str = "run", group: str | None = None,
          resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trains one GAN as `cfg` describes, writing everything under `run_dir`; returns the summary, whose
    `status` is completed, interrupted (a stop signal; resumable) or diverged (a NaN or an infinity).
    `resume` is a checkpoint (checkpoint.load_for_resume) to continue from."""
    started = time.time()
    validate(cfg)
    check_writable(run_dir)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.train.device)

    dataset = build(cfg, "dataset")
    num_classes = class_count(cfg, dataset)
    G = build(cfg, "arch.generator", z_dim=cfg.z_dim, data_shape=dataset.shape, num_classes=num_classes).to(device)
    D = build(cfg, "arch.discriminator", data_shape=dataset.shape, num_classes=num_classes).to(device)
    objective: Objective = build(cfg, "objective")
    regularisers: dict[str, Regulariser] = {name: build(cfg, f"regulariser.{name}") for name in cfg.regulariser}
    for regulariser in regularisers.values():
        regulariser.setup(G, D)
    warnings = combination_warnings(objective, regularisers)
    for message in warnings:
        log.warning("%s.", message)
    G_ema = EMA(G, cfg.train.ema)
    betas = tuple(float(b) for b in cfg.train.betas)  # Adam refuses a mix of int and float
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.train.lr_g, betas=betas, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.train.lr_d, betas=betas, foreach=True)
    metric = build(cfg, "metrics")
    metric.check(dataset)

    start_step, d_steps, best = 0, 0, None
    if resume is not None:
        start_step, d_steps, best = restore(resume, G, D, G_ema, opt_g, opt_d, regularisers, device)
        truncate_metrics(run_dir / "metrics.jsonl", start_step)
        if start_step >= cfg.train.steps:
            raise UserError(f"The run in {run_dir} is already at step {start_step} and train.steps is "
                            f"{cfg.train.steps}: nothing to do. Fix: resume with a larger train.steps, e.g. "
                            f"train.steps={2 * start_step}.")
    logger: Logger = build(cfg, "logger")
    logger.start(OmegaConf.to_container(cfg, resolve=True), run_dir, name, group,
                 run_id=resume.get("logger_run_id") if resume else None)
    if metric.best_key:
        logger.track_best(metric.best_key, metric.higher_is_better)
    record = RunRecord(run_dir, logger)
    batches: Iterator[Batch] = dataset.batches(cfg.train.batch_size, torch.Generator().manual_seed(cfg.seed))
    for _ in range(d_steps):  # a resumed run replays the data order up to where it stopped
        next(batches)
    if resume is not None:
        set_rng_state(resume["rng"])  # last, after everything above that draws random numbers
    fixed = torch.Generator().manual_seed(cfg.seed + 1)  # evaluation draws never disturb training's RNG
    fixed_z = torch.randn(64, cfg.z_dim, generator=fixed).to(device)
    fixed_y = None
    if num_classes is not None:  # a row per class (the first 16), the same 8 z down the columns
        fixed_y = torch.arange(min(num_classes, 16)).repeat_interleave(8).to(device)
        fixed_z = fixed_z[:8].repeat(min(num_classes, 16), 1)

    def sample(n: int) -> Iterator[torch.Tensor]:  # the same z at every evaluation, from the EMA generator
        return draw_batches(G_ema.model, cfg.z_dim, n, seed=cfg.seed + 2, device=device)

    def draw_samples(step: int) -> None:
        with torch.no_grad():
            fake = G_ema.model(fixed_z, fixed_y)
        if fake.dim() == 4:
            grid = image_grid(fake, rows=8 if fixed_y is not None else None)
            record.image("samples", grid, Path("samples") / f"step_{step:06d}.png", step)
        else:  # 2-D data: samples over the real mixture and D's landscape (a conditional D has one per class: none)
            real, _ = dataset.sample(1000, torch.Generator().manual_seed(cfg.seed + 3))
            landscape = None if num_classes is not None else lambda x: D.eval()(x.to(device))
            picture = scatter_plot(torch.cat(list(sample(1000))), real, landscape, f"step {step}")
            D.train()
            record.image("samples", picture, Path("samples") / f"step_{step:06d}.png", step)

    def random_labels(n: int) -> torch.Tensor:
        """Classes of the fakes, uniform, from the global RNG (which checkpoints keep); never called by an
        unconditional run, whose random numbers stay exactly as they were."""
        return torch.randint(num_classes, (n,), device=device)

    checkpoints = run_dir / "checkpoints"

    def checkpoint(step: int, file: str = "last.pt") -> None:
        check_parameters({"G": G, "D": D})  # a poisoned state never replaces a good checkpoint
        save_checkpoint(checkpoints / file, {
            "step": step, "d_steps": d_steps, "config": OmegaConf.to_container(cfg),
            "data_shape": list(dataset.shape), "num_classes": num_classes, "G": G.state_dict(), "D": D.state_dict(),
            "G_ema": G_ema.model.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "regularisers": {name: r.state_dict() for name, r in regularisers.items()},
            "rng": rng_state(), "best": best, "logger_run_id": logger.run_id,
        })
        if file == "last.pt":
            keep_latest(checkpoints, step, cfg.train.keep_checkpoints)

    def evaluate(step: int) -> dict[str, float]:
        """The metric, logged; a new best (metric.best_key) is kept as checkpoints/best.pt."""
        nonlocal best
        values = metric(sample, dataset)
        if values:
            record.log(values, step)
        score = values.get(metric.best_key) if metric.best_key else None
        if score is not None and (best is None or metric.better(score, best["value"])):
            best = {"key": metric.best_key, "value": score, "step": step}
            checkpoint(step, "best.pt")
        return values

    status, failure, step = "completed", None, start_step
    progress = tqdm(range(start_step + 1, cfg.train.steps + 1), initial=start_step, total=cfg.train.steps,
                    unit="step", desc=name, mininterval=1.0, dynamic_ncols=True)
    with StopSignals() as signals:
        try:
            for step in progress:
                for optimiser, lr in ((opt_g, cfg.train.lr_g), (opt_d, cfg.train.lr_d)):
                    for param_group in optimiser.param_groups:
                        param_group["lr"] = lr * learning_rate_factor(cfg, step - 1)
                for _ in range(cfg.train.n_critic):
                    real, labels = next(batches)
                    real = real.to(device)
                    z = torch.randn(len(real), cfg.z_dim, device=device)
                    real_y, fake_y = None, None
                    if num_classes is not None:  # the batch's labels, and random ones for the fakes
                        real_y, fake_y = labels.to(device), random_labels(len(real))
                    d_stats = d_step(G, D, objective, regularisers, opt_d, real, z, d_steps, real_y, fake_y)
                    d_steps += 1
                z = torch.randn(len(real), cfg.z_dim, device=device)
                fake_y = random_labels(len(real)) if num_classes is not None else None
                g_stats = g_step(G, D, objective, regularisers, opt_g, real, z, step - 1, real_y, fake_y)
                G_ema.update(G)

                if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                    check_parameters({"G": G, "D": D})
                    record.log({**d_stats, **g_stats}, step)
                    progress.set_postfix({"d": f"{d_stats['loss/d']:.3f}", "g": f"{g_stats['loss/g']:.3f}"},
                                         refresh=False)
                if metric.every and step % metric.every == 0 and step < cfg.train.steps:
                    evaluate(step)
                if step % cfg.train.sample_every == 0 and step < cfg.train.steps:
                    draw_samples(step)
                if step % cfg.train.checkpoint_every == 0 or signals.received:
                    checkpoint(step)
                if signals.received:
                    status = "interrupted"
                    log.warning("%s received at step %d: checkpoint written to %s; continue with "
                                "gan-run resume=%s", signals.received.name, step, checkpoints / "last.pt", run_dir)
                    break
        except Diverged as bad:
            bad.step = step
            status, failure = "diverged", {"step": step, "quantity": bad.quantity, "value": str(bad.value)}
            kept = (f"the last good checkpoint ({checkpoints / 'last.pt'}) was kept" if (checkpoints / "last.pt").is_file()
                    else "no checkpoint had been written yet")
            log.error("Diverged: %s; %s. Try smaller learning rates, a regulariser (regulariser=gp or "
                      "spectral_norm) or another objective.", bad, kept)
        finally:
            progress.close()

    final_metrics: dict[str, float] = {}
    if status == "completed":
        final_metrics = evaluate(step)
        draw_samples(step)
        checkpoint(step)
    curves = loss_curves(record.metrics_file)
    if curves is not None:
        record.image("loss_curves", curves, Path("loss_curves.png"), step)
    summary: dict[str, Any] = {
        "status": status,
        "step": step,
        "wall_time_s": round(time.time() - started, 2),
        "device": str(device),
        "params": {"generator": count_parameters(G), "discriminator": count_parameters(D)},
        "metrics": final_metrics,
        "metrics_protocol": metric.protocol(),
        "best": best,
        "warnings": warnings,
        "final_losses": {k: v for k, v in record.latest.items() if k.split("/")[0] in ("loss", "reg", "reg_g", "d")},
    }
    if failure:
        summary["diverged"] = failure
    if status == "interrupted":
        summary["signal"] = signals.received.name
    if resume is not None:
        summary["resumed_from_step"] = start_step
    # The best key's summary is its minimum or maximum (track_best), not its final value.
    last_values = {k: v for k, v in final_metrics.items() if k != metric.best_key}
    logger.summary({**last_values, "status": status, "params/generator": summary["params"]["generator"],
                    "params/discriminator": summary["params"]["discriminator"]})
    summary["wandb"] = logger.finish() or None
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def restore(state: dict[str, Any], G: nn.Module, D: nn.Module, G_ema: EMA, opt_g: torch.optim.Optimizer,
            opt_d: torch.optim.Optimizer, regularisers: dict[str, Regulariser],
            device: torch.device) -> tuple[int, int, dict[str, Any] | None]:
    """Loads a checkpoint's states into freshly built parts; returns (step, D steps done, best so far)."""
    try:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        G_ema.model.load_state_dict(state["G_ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        for name, regulariser in regularisers.items():
            regulariser.load_state_dict(state["regularisers"].get(name, {}))
    except (RuntimeError, ValueError, KeyError) as error:
        raise UserError(f"The checkpoint does not fit this configuration ({str(error).splitlines()[0]}). "
                        "Resume with the run's own architecture and regularisers; only values such as "
                        "train.steps may change.") from None
    return int(state["step"]), int(state["d_steps"]), state.get("best")
