"""The training loop: the step (engine/step.py: learning rates, n_critic D updates, the G update, counters,
statistics, the moving average) and four periodic tasks, each due every `every` steps and at the last step (one
cadence rule, the last step included): a log row, an evaluation, a sample picture and a checkpoint. A stop signal
writes a checkpoint and ends the run `interrupted`; a NaN or an infinity ends it `diverged`, the last good
checkpoint kept."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from gan_runner.arch import count_parameters
from gan_runner import distributed
from gan_runner.engine.build import Parts, build, build_parts, build_step
from gan_runner.engine.config import validate
from gan_runner.engine.forecast import Forecast, too_long
from gan_runner.engine.record import RunRecord
from gan_runner.engine.resume import Start
from gan_runner.engine.state import TrainingState
from gan_runner.engine.step import TrainingStep
from gan_runner.engine.stopping import Diverged, StopSignals, check_parameters
from gan_runner.engine.threads import LoadFollower
from gan_runner.loggers import Logger
from gan_runner.run_directory import Checkpoint, RunDirectory, check_writable
from gan_runner.study.identity import RunIdentity, check_direction

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path, identity: RunIdentity | None = None,
          resume: Checkpoint | None = None) -> dict[str, Any]:
    """Trains one GAN as `cfg` describes, writing everything under `run_dir`; returns the summary, whose `status` is
    completed, interrupted (a stop signal; resumable) or diverged (a NaN or an infinity). `identity` names the run in
    its study (None: a lone run called "run"); `resume` is a checkpoint to continue from (engine/resume.py). Under
    torchrun every process calls it (engine/distributed.py says how they share the work); process 0 alone writes."""
    run = prepare(cfg, run_dir, identity or RunIdentity("run"), Start(resume))
    evaluation, picture = Evaluation(run), Picture(run)
    pace = Pace(run)
    tasks = [LogRow(run), evaluation, picture, Checkpointing(run), ThreadCount(run), pace]
    status, ending = "completed", {}
    with StopSignals() as signals, Progress(run) as progress:
        try:
            while run.state.step < run.last:
                enter_phase(run)
                run.step()
                stopping = signals.agreed() is not None
                due = [task for task in tasks if task.due(run.state.step, run.last, stopping)]
                if any(task.uses_running_statistics for task in due):
                    run.state.share_running_statistics()  # several processes: one state to measure, draw and write
                for task in due:
                    task()
                for task in due:
                    task.done()
                progress.show(run.state.step, run.record.latest)
                if stopping:
                    status, ending = "interrupted", interrupted(run, signals.received)
                    break
        except Diverged as bad:
            progress.show(run.state.step, run.record.latest)  # the bar ends at the step the run stopped at
            status, ending = "diverged", diverged(run, bad)
    return finish(run, status, {**ending, **pace.forecast.summary()}, evaluation.latest, picture.latest)


@dataclass
class Run:
    """A run being trained: its config, parts, step, record and where it started from."""

    cfg: DictConfig
    directory: RunDirectory
    identity: RunIdentity
    parts: Parts
    step: TrainingStep
    record: RunRecord
    start: Start
    started: float

    @property
    def state(self) -> TrainingState:
        return self.parts.state

    @property
    def last(self) -> int:
        return int(self.cfg.train.steps)


def prepare(cfg: DictConfig, run_dir: Path, identity: RunIdentity, start: Start) -> Run:
    """The config checked, the parts built (and restored from the checkpoint of a resumed run), the logger started,
    the step built on the state as restored; every RNG restored last."""
    started = time.time()
    validate(cfg)
    distributed.check_batch_size(cfg.train.batch_size)
    if distributed.is_main():
        check_writable(run_dir)
    parts = build_parts(cfg)
    log.info("%s", start_line(cfg, parts, run_dir, start))
    for message in parts.warnings:
        log.warning("%s.", message)
    check_direction(cfg, parts.metric)
    logger = build(cfg, "logger") if distributed.is_main() else Logger()  # one W&B run per run
    about = {"config": OmegaConf.to_container(cfg), "data_shape": list(parts.dataset.shape),
             "num_classes": parts.num_classes, "identity": identity.summary()}
    if getattr(parts.dataset, "source_shape", None) is not None:  # a paired game's G is built for its sources
        about["source_shape"] = list(parts.dataset.source_shape)
    record = RunRecord(RunDirectory(run_dir), logger, about, cfg.train.keep_checkpoints, writes=distributed.is_main())
    start.restore(parts.state, cfg.train.steps, record)
    logger.start(OmegaConf.to_container(cfg, resolve=True), run_dir, identity, run_id=start.logger_run_id)
    if parts.metric.best_key:
        logger.track_best(parts.metric.best_key, parts.metric.higher_is_better)
    step = build_step(cfg, parts)
    start.restore_rng()
    return Run(cfg, record.directory, identity, parts, step, record, start, started)


def enter_phase(run: Run) -> None:
    """Before a step of a new phase of the game (progressive growing's next resolution): the game enters it, and the
    step is built anew for it (its batch size, its data from the order's batch number state.d_steps, a CUDA graph
    recorded again). A resumed run is in its checkpoint's phase already."""
    game, state = run.parts.game, run.state
    phase = game.phase(state)
    if phase != state.phase:
        game.enter_phase(state, phase)
        state.phase = phase
        run.step = build_step(run.cfg, run.parts)


def start_line(cfg: DictConfig, parts: Parts, run_dir: Path, start: Start) -> str:
    """What a run is and where it runs, in one line at the top of its log (and of its console output)."""
    from gan_runner import __version__

    device = parts.device
    where = f"{device} ({torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}), " if device.type == "cuda" \
        else f"{device}, "
    where += parts.threads
    resolved = json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True, default=str)
    began = f"resumed from step {start.step}" if start.checkpoint is not None else "started"
    commit = git_commit()
    return (f"gan-runner {__version__}, torch {torch.__version__}{f', commit {commit}' if commit else ''}: {began} on "
            f"{where}, precision {cfg.train.precision}, CUDA graph {'on' if parts.graphed else 'off'}, compile "
            f"{'on' if cfg.train.compile else 'off'}; config {hashlib.sha256(resolved.encode()).hexdigest()[:10]}; "
            f"run directory {run_dir.absolute()}")


def git_commit() -> str | None:
    """The commit of the checkout gan-runner runs from (an editable install), with + when it has changes."""
    folder = Path(__file__).resolve().parents[2]
    if not (folder / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True,
                              timeout=5)
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                 capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+" if changed.stdout.strip() else "") if head.returncode == 0 else None


def due(step: int, every: int, last: int) -> bool:
    """The cadence of every periodic task: each `every` steps (0: never) and at the last step."""
    return step == last or (every > 0 and step % every == 0)


class Task:
    """Something the loop does every `every` steps and at the last step. `uses_running_statistics`: it reads
    batch norm's running statistics (the processes of a run agree on them first)."""

    uses_running_statistics = False

    def __init__(self, run: Run, every: int) -> None:
        self.run, self.every = run, every

    def due(self, step: int, last: int, stopping: bool) -> bool:
        return due(step, self.every, last) and not stopping

    def __call__(self) -> None:
        raise NotImplementedError

    def done(self) -> None:
        """After every task due at this step has run."""


class LogRow(Task):
    """A row of metrics.jsonl (and W&B): the statistics' means since the last row, the learning rates, speed and
    memory, the health diagnostics and any detector that fires. Diverged if a statistic or a weight went bad."""

    def __init__(self, run: Run) -> None:
        super().__init__(run, run.cfg.train.log_every)
        self.clock = (run.state.step, time.perf_counter())  # for the steps per second of each row

    def due(self, step: int, last: int, stopping: bool) -> bool:
        return due(step, self.every, last)  # a row due when a stop signal came is still logged

    def __call__(self) -> None:
        state = self.run.state
        row = state.stats.means()
        check_parameters({"G": state.G, "D": state.D})
        row.update({f"lr/{network}": float(optimiser.param_groups[0]["lr"])  # a tensor under cuda_graph
                    for network, optimiser in (("g", state.opt_g), ("d", state.opt_d))})
        row.update(speed_and_memory(state.step - self.clock[0], time.perf_counter() - self.clock[1],
                                    self.run.parts.device))
        row.update(state.health.diagnostics(state.G, state.D, row))  # margin, singular values, diversity
        row.update(state.health.observe(row, state.step))  # health/<detector> = 1 when one fires (and a warning)
        self.run.record.log(row, state.step, state.images_seen)

    def done(self) -> None:
        """The next row's speed counts training steps, not this step's evaluation, picture and checkpoint."""
        self.clock = (self.run.state.step, time.perf_counter())


def speed_and_memory(steps: int, seconds: float, device: torch.device) -> dict[str, float]:
    """Steps per second since the last row and, on CUDA, the peak memory allocated so far."""
    values = {"speed/steps_per_s": steps / max(seconds, 1e-9)}
    if device.type == "cuda":
        values["memory/peak_gpu_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    return values


class Evaluation(Task):
    """The metric of the averaged generator's samples (the same inputs each time: the game's sampler), logged; a new best (metric.best_key)
    is kept as checkpoints/best.pt. On several processes each computes its share and process 0's values decide."""

    uses_running_statistics = True

    def __init__(self, run: Run) -> None:
        super().__init__(run, run.parts.metric.every)
        self.latest: dict[str, float] = {}

    def __call__(self) -> None:
        run, state, metric = self.run, self.run.state, self.run.parts.metric
        sample = run.parts.game.sampler(state.ema.model, run.cfg, run.parts.dataset, run.cfg.seed + 2,
                                        run.parts.device)
        values = distributed.from_main(metric(sample, run.parts.dataset))
        values.update(state.health.observe(values, state.step))  # a count of modes or classes falling
        run.record.log(values, state.step, state.images_seen)
        self.latest = values
        score = values.get(metric.best_key) if metric.best_key else None
        if score is not None and (state.best is None or metric.better(score, state.best["value"])):
            state.best = {"key": metric.best_key, "value": score, "step": state.step}
            run.record.checkpoint(state, "best")


class Picture(Task):
    """samples/step_NNNNNN.png: the averaged generator's samples of fixed inputs (or the 2-D and 1-D pictures, or
    a paired game's source | output | target rows): the game's picture."""

    uses_running_statistics = True

    def __init__(self, run: Run) -> None:
        super().__init__(run, run.cfg.train.sample_every)
        self.fixed = run.parts.game.fixed_inputs(run.cfg, run.parts.dataset, run.parts.num_classes,
                                                 run.parts.device, getattr(run.state.G, "latent", None))
        self.latest: np.ndarray | None = None

    def __call__(self) -> None:
        run, state, game = self.run, self.run.state, self.run.parts.game
        if not run.record.writes:
            return
        sample = game.sampler(state.ema.model, run.cfg, run.parts.dataset, run.cfg.seed + 2, run.parts.device)
        self.latest = game.picture(state.ema.model, state.D, self.fixed, run.parts.dataset, sample, run.cfg.seed,
                                   state.step, run.parts.objective)
        run.record.image("samples", self.latest, Path("samples") / f"step_{state.step:06d}.png", state.step,
                         state.images_seen)


class Checkpointing(Task):
    """checkpoints/last.pt (and step_NNNNNN.pt with train.keep_checkpoints > 1); also when a stop signal came."""

    uses_running_statistics = True

    def __init__(self, run: Run) -> None:
        super().__init__(run, run.cfg.train.checkpoint_every)

    def due(self, step: int, last: int, stopping: bool) -> bool:
        return due(step, self.every, last) or stopping

    def __call__(self) -> None:
        self.run.record.checkpoint(self.run.state)


class ThreadCount(Task):
    """train.threads=auto without OMP_NUM_THREADS: torch's CPU threads follow the load (engine/threads.py), looked at
    every few seconds of wall time, not at every step; the log says each change."""

    def __init__(self, run: Run) -> None:
        super().__init__(run, 0)
        self.follower = LoadFollower.of(run.cfg.train.threads)

    def due(self, step: int, last: int, stopping: bool) -> bool:
        return self.follower is not None and self.follower.due()

    def __call__(self) -> None:
        change = self.follower.check()
        if change:
            log.info("%s", change)


class Pace(Task):
    """The run's whole wall time, estimated once its speed is known (engine/forecast.py) and kept for summary.json;
    one warning with the ways out when it exceeds train.warn_after_h hours."""

    def __init__(self, run: Run) -> None:
        super().__init__(run, 0)
        self.forecast = Forecast(run.state.step, run.last, time.perf_counter())

    def due(self, step: int, last: int, stopping: bool) -> bool:
        return self.forecast.measuring and not stopping

    def __call__(self) -> None:
        run, limit = self.run, self.run.cfg.train.warn_after_h
        estimate = self.forecast.observe(run.state.step, time.perf_counter(), time.time() - run.started)
        if estimate and limit is not None and estimate.total_s > limit * 3600 and distributed.is_main():
            log.warning("%s", too_long(estimate, run.last, limit, str(run.parts.device)))


class Progress:
    """The progress bar (process 0 alone), with the latest losses."""

    def __init__(self, run: Run) -> None:
        self.bar = tqdm(total=run.last, initial=run.state.step, unit="step", desc=run.identity.name, mininterval=1.0,
                        dynamic_ncols=True, disable=not distributed.is_main())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exception: Any) -> None:
        self.bar.close()

    def show(self, step: int, latest: dict[str, float]) -> None:
        self.bar.update(step - self.bar.n)
        # Before the first log row there is no loss to show: nothing, rather than a "nan" that reads as divergence.
        self.bar.set_postfix({k: f"{latest[f'loss/{k}']:.3f}" for k in "dg" if f"loss/{k}" in latest}, refresh=False)


def interrupted(run: Run, signal: Any) -> dict[str, Any]:
    log.warning("%s received at step %d: checkpoint written to %s. Continue with: gan-run resume=%s", signal.name,
                run.state.step, run.directory.checkpoint(), run.directory.path.absolute())
    return {"signal": signal.name}


def diverged(run: Run, bad: Diverged) -> dict[str, Any]:
    """The run stopped at this step, where the bad value was found: the step its log, its console and summary.json
    (step and diverged.step) all name; diverged.first_bad_step says since when the statistics were not finite."""
    kept = (f"the last good checkpoint ({run.directory.checkpoint()}) was kept"
            if run.directory.checkpoint().is_file() else "no checkpoint had been written yet")
    log.error("Diverged: stopped at step %d, where %s; %s. Try smaller learning rates, a regulariser (regulariser=gp "
              "or spectral_norm) or another objective.", run.state.step, bad, kept)
    return {"diverged": {"step": run.state.step, "quantity": bad.quantity, "value": str(bad.value),
                         **({"first_bad_step": bad.first_bad_step} if bad.first_bad_step is not None else {})}}


def finish(run: Run, status: str, ending: dict[str, Any], metrics: dict[str, float],
           last_picture: np.ndarray | None) -> dict[str, Any]:
    """The closing pictures and summary.json (also the logger's summary); the summary."""
    state, parts = run.state, run.parts
    run.record.closing_pictures(last_picture, state.step, state.images_seen)
    summary: dict[str, Any] = {
        "status": status, "step": state.step, "wall_time_s": round(time.time() - run.started, 2),
        "device": str(parts.device),
        "params": {"generator": count_parameters(state.G), "discriminator": count_parameters(state.D)},
        "metrics": metrics if status == "completed" else {}, "metrics_protocol": parts.metric.protocol(),
        "best": state.best, "images_seen": state.images_seen, "warnings": parts.warnings, **state.health.summary(),
        "study": run.identity.summary(), **ending, **run.start.summary(),
    }
    return run.record.finish(summary, parts.metric.best_key)
