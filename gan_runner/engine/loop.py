"""The training loop: n_critic discriminator updates, one generator update, the generator's moving average,
and one cadence rule for logging, evaluation, sample pictures and checkpoints, the last step included."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from gan_runner.engine import distributed
from gan_runner.arch import count_parameters
from gan_runner.engine.build import Run, build, resolve_device, run_parts
from gan_runner.run_directory import set_rng_state
from gan_runner.errors import UserError
from gan_runner.loggers import Logger
from gan_runner.engine.record import RunRecord, sample_picture
from gan_runner.commands.sample import draw_batches
from gan_runner.engine.state import TrainingState
from gan_runner.study.identity import RunIdentity, check_direction
from gan_runner.engine.step import Batches, fixed_inputs
from gan_runner.engine.stopping import Diverged, StopSignals, check_parameters
from gan_runner.engine.config import check_writable, setting, validate

log = logging.getLogger(__name__)


def learning_rate_factor(cfg: DictConfig, updates_done: int) -> float:
    """Both learning rates move linearly from lr to lr x lr_end_factor over the run (1.0: constant; SNGAN
    decays to 0). A pure function of the step, so a resumed run (even one given more steps) needs no state."""
    return 1.0 + (cfg.train.lr_end_factor - 1.0) * min(updates_done, cfg.train.steps) / cfg.train.steps


def due(step: int, every: int, last: int) -> bool:
    """The cadence of every periodic task: each `every` steps (0: never) and at the last step."""
    return step == last or (every > 0 and step % every == 0)


def evaluate(run: Run, state: TrainingState, record: RunRecord, sample: Any) -> dict[str, float]:
    """The metric, logged; a new best (metric.best_key) is kept as checkpoints/best.pt. On several processes
    each computes its share and process 0's values decide (distributed.from_main), the same on every one."""
    values = distributed.from_main(run.metric(sample, run.dataset))
    values.update(state.health.observe(values, state.step))  # a count of modes or classes falling
    record.log(values, state.step, state.images_seen)
    score = values.get(run.metric.best_key) if run.metric.best_key else None
    if score is not None and (state.best is None or run.metric.better(score, state.best["value"])):
        state.best = {"key": run.metric.best_key, "value": score, "step": state.step}
        record.checkpoint(state, "best.pt")
    return values


def speed_and_memory(steps: int, seconds: float, device: torch.device) -> dict[str, float]:
    """Steps per second since the last row and, on CUDA, the peak memory allocated so far."""
    values = {"speed/steps_per_s": steps / max(seconds, 1e-9)}
    if device.type == "cuda":
        values["memory/peak_gpu_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    return values


def train(cfg: DictConfig, run_dir: Path, identity: RunIdentity | None = None,
          resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trains one GAN as `cfg` describes, writing everything under `run_dir`; returns the summary, whose
    `status` is completed, interrupted (a stop signal; resumable) or diverged (a NaN or an infinity).
    `identity` names the run in its study (None: a lone run called "run"); `resume` is a checkpoint
    (checkpoint.load_for_resume) to continue from. Under torchrun every process calls it (gan_runner.engine.distributed
    says how they share the work); process 0 alone writes."""
    identity = identity or RunIdentity("run")
    started = time.time()
    validate(cfg)
    distributed.check_batch_size(cfg.train.batch_size)
    if distributed.is_main():
        check_writable(run_dir)
    device = resolve_device(cfg.train.device)
    run, state = run_parts(cfg, device)  # seeded with cfg.seed
    for message in run.warnings:
        log.warning("%s.", message)
    check_direction(cfg, run.metric)
    if resume is not None:
        state.resume_from(resume)
        if "images_seen" not in resume:  # a checkpoint from before the counter: each D step saw one batch
            state.images_seen = state.d_steps * cfg.train.batch_size
        if state.step >= cfg.train.steps:
            raise UserError(f"The run in {run_dir} is already at step {state.step} and train.steps is "
                            f"{cfg.train.steps}: nothing to do. Fix: resume with a larger train.steps, e.g. "
                            f"train.steps={2 * state.step}.")
    start_step, train_cfg, last = state.step, cfg.train, cfg.train.steps
    logger = build(cfg, "logger") if distributed.is_main() else Logger()  # one W&B run per run
    logger.start(OmegaConf.to_container(cfg, resolve=True), run_dir, identity,
                 run_id=resume.get("logger_run_id") if resume else None)
    if run.metric.best_key:
        logger.track_best(run.metric.best_key, run.metric.higher_is_better)
    record = RunRecord(run_dir, logger, {"config": OmegaConf.to_container(cfg), "data_shape": list(run.dataset.shape),
                                         "num_classes": run.num_classes, "identity": identity.summary()},
                       train_cfg.keep_checkpoints, writes=distributed.is_main())
    if resume is not None:
        record.truncate_after(state.step)
    # The global batches of the seeded order; on several processes each takes its slice (the same order for any N).
    data = distributed.shard_batches(run.dataset.batches(train_cfg.batch_size, torch.Generator().manual_seed(cfg.seed),
                                                         state.d_steps, device))
    batches = Batches(data, cfg.z_dim, run.num_classes, device, state.G.latent, setting(cfg, "train.reuse_fakes"))
    if resume is not None:
        set_rng_state(resume["rng"])  # last, after everything above that draws random numbers
    fixed = fixed_inputs(cfg.z_dim, run.num_classes, cfg.seed + 1, device, state.G.latent)
    # The metric's samples: the same z at every evaluation, from the averaged generator.
    sample = functools.partial(draw_batches, state.ema.model, cfg.z_dim, seed=cfg.seed + 2, device=device)

    status, failure, final_metrics, step, picture = "completed", None, {}, start_step, None
    last_row = (start_step, time.perf_counter())  # for the steps per second of each row
    progress = tqdm(range(start_step + 1, last + 1), initial=start_step, total=last, unit="step", desc=identity.name,
                    mininterval=1.0, dynamic_ncols=True, disable=not distributed.is_main())
    with StopSignals() as signals:
        try:
            for step in progress:
                run.step.set_learning_rates(state, learning_rate_factor(cfg, step - 1))
                for stats in run.step(state, batches, step):  # n_critic D updates, one G update (steps.py)
                    state.stats.add(stats, step)
                state.d_steps += train_cfg.n_critic
                state.images_seen += train_cfg.n_critic * train_cfg.batch_size
                state.ema.update(state.G, step)
                state.step = step

                stopping, row_due = signals.agreed() is not None, due(step, train_cfg.log_every, last)
                if row_due:
                    row = state.stats.means()  # Diverged if a statistic went bad since the last row
                    check_parameters({"G": state.G, "D": state.D})
                    row.update({f"lr/{network}": float(optimiser.param_groups[0]["lr"])  # a tensor under cuda_graph
                                for network, optimiser in (("g", state.opt_g), ("d", state.opt_d))})
                    row.update(speed_and_memory(step - last_row[0], time.perf_counter() - last_row[1], device))
                    row.update(state.health.diagnostics(state.G, state.D, row))  # margin, singular values, diversity
                    row.update(state.health.observe(row, step))  # health/<detector> = 1 when one fires (and a warning)
                    record.log(row, step, state.images_seen)
                    progress.set_postfix({k: f"{row.get(f'loss/{k}', float('nan')):.3f}" for k in "dg"}, refresh=False)
                evaluation_due = due(step, run.metric.every, last) and not stopping
                picture_due = due(step, train_cfg.sample_every, last) and not stopping
                checkpoint_due = due(step, train_cfg.checkpoint_every, last) or stopping
                if evaluation_due or picture_due or checkpoint_due:
                    state.share_running_statistics()  # several processes: one state to measure, draw and write
                if evaluation_due:
                    final_metrics = evaluate(run, state, record, sample)
                if picture_due and record.writes:
                    picture = sample_picture(state.ema.model, state.D, fixed, run.dataset, sample, cfg.seed, step,
                                             run.objective)
                    record.image("samples", picture, Path("samples") / f"step_{step:06d}.png", step, state.images_seen)
                if checkpoint_due:
                    record.checkpoint(state)
                if row_due:  # the next row's speed counts training steps, not this row's evaluation and files
                    last_row = (step, time.perf_counter())
                if stopping:
                    status = "interrupted"
                    log.warning("%s received at step %d: checkpoint written to %s; continue with gan-run resume=%s",
                                signals.received.name, step, record.checkpoints / "last.pt", run_dir)
                    break
        except Diverged as bad:
            bad.step = bad.step or step
            status, failure = "diverged", {"step": bad.step, "quantity": bad.quantity, "value": str(bad.value)}
            kept = (f"the last good checkpoint ({record.checkpoints / 'last.pt'}) was kept"
                    if (record.checkpoints / "last.pt").is_file() else "no checkpoint had been written yet")
            log.error("Diverged: %s; %s. Try smaller learning rates, a regulariser (regulariser=gp or "
                      "spectral_norm) or another objective.", bad, kept)
        finally:
            progress.close()

    record.closing_pictures(picture, state.step, state.images_seen)
    summary: dict[str, Any] = {
        "status": status, "step": step, "wall_time_s": round(time.time() - started, 2), "device": str(device),
        "params": {"generator": count_parameters(state.G), "discriminator": count_parameters(state.D)},
        "metrics": final_metrics if status == "completed" else {}, "metrics_protocol": run.metric.protocol(),
        "best": state.best, "images_seen": state.images_seen, "warnings": run.warnings, **state.health.summary(),
        "study": identity.summary(),
        **({"diverged": failure} if failure else {}),
        **({"signal": signals.received.name} if status == "interrupted" else {}),
        **({"resumed_from_step": start_step} if resume is not None else {}),
    }
    return record.finish(summary, run.metric.best_key)
