"""Where a sweep's job runs, and how a requeued job hands over: the glue between gan-run and Hydra's launchers.

The parallel preset (conf/hydra/launcher/parallel.yaml, Hydra's joblib launcher) runs several jobs at once
on one machine: each job with train.device=auto takes a GPU in turn and, on the CPU, its share of the cores.
The slurm preset (conf/hydra/launcher/slurm.yaml, Hydra's submitit launcher) runs each job on its own GPU;
at a time-out or a pre-emption submitit signals the job (SIGUSR2 unless SUBMITIT_PREEMPT_SIGNAL says
otherwise). gan-run's loop catches that signal like its other stop signals and writes its checkpoint; then
`hand_over_to_submitit` passes the signal on to submitit's own handler, which requeues the job.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
from dataclasses import dataclass

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from gan_runner.errors import UserError

log = logging.getLogger("gan_runner")

# The Hydra plugin each choice of the sweeps extra needs: (config group, option) -> the plugin's module.
PLUGIN_OF_CHOICE = {
    ("hydra/launcher", "parallel"): "hydra_joblib_launcher",
    ("hydra/launcher", "joblib"): "hydra_joblib_launcher",
    ("hydra/launcher", "slurm"): "hydra_submitit_launcher",
    ("hydra/launcher", "submitit_slurm"): "hydra_submitit_launcher",
    ("hydra/launcher", "submitit_local"): "hydra_submitit_launcher",
    ("hydra/sweeper", "optuna"): "hydra_optuna_sweeper",
}

# The commands a choice runs on this machine: submitit's SLURM executor looks for srun as it starts and submits with
# sbatch, both after Hydra has made the sweep's folder.
COMMANDS_OF_CHOICE = {
    ("hydra/launcher", "slurm"): ("sbatch", "srun"),
    ("hydra/launcher", "submitit_slurm"): ("sbatch", "srun"),
}

# submitit's choice of signal for a time-out or a pre-emption (submitit.JobEnvironment.USR_SIG).
SUBMITIT_SIGNAL_VARIABLE = "SUBMITIT_PREEMPT_SIGNAL"


def launched_by_torchrun() -> bool:
    """True in a process that torchrun (or a launcher setting the same variables: RANK, WORLD_SIZE, MASTER_ADDR
    and MASTER_PORT, which torch.distributed's env:// rendezvous reads) started, even as the only one."""
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


@dataclass(frozen=True)
class Placement:
    """The device a job trains on, and how many CPU threads torch may use for it."""

    device: str
    threads: int


def visible_cores() -> int:
    """The cores this process may run on (a SLURM allocation or taskset counts, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_parallel_jobs(gpu_count: int, cores: int, jobs_per_gpu: int = 1) -> int:
    """The parallel preset's n_jobs: `jobs_per_gpu` jobs per GPU (study.jobs_per_gpu: small runs leave most of a
    big GPU idle); without GPUs, a job per two cores (each job then gets two threads), and 2 at least, since the
    preset is chosen to run jobs side by side."""
    return gpu_count * max(1, jobs_per_gpu) if gpu_count > 0 else max(2, cores // 2)


def job_placement(job_num: int, parallel_jobs: int, gpu_count: int, cores: int) -> Placement:
    """Job `job_num` of a sweep running `parallel_jobs` at a time: GPUs taken in turn (job number mod their
    count, so K jobs per GPU run on each GPU when parallel_jobs is K x GPUs), and an equal share of the cores so
    that the jobs' threads do not fight over them."""
    threads = max(1, cores // max(1, parallel_jobs))
    device = f"cuda:{job_num % gpu_count}" if gpu_count > 0 else "cpu"
    return Placement(device, threads)


def concurrent_jobs(n_jobs: int | None, cores: int) -> int:
    """How many jobs a launcher runs at once from its n_jobs (joblib's meaning: -1 all cores, -2 all but
    one, ...); 1 for launchers without n_jobs, whose jobs run one after another or on machines of their own."""
    if n_jobs is None:
        return 1
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def place_job(device_setting: str) -> None:
    """In a sweep whose jobs share this machine (the parallel preset) and with train.device=auto: this job's
    GPU becomes the current one (so "auto", which means "cuda", lands there, and the config saved with the
    checkpoints still says auto) and torch gets its share of the cores. Does nothing otherwise."""
    import torch  # here, so that importing gan_runner.commands.run (gan-run --help) stays quick

    hydra_cfg = HydraConfig.get()
    running_at_once = concurrent_jobs(OmegaConf.select(hydra_cfg, "launcher.n_jobs"), visible_cores())
    if running_at_once == 1 or device_setting != "auto":
        return
    placement = job_placement(hydra_cfg.job.num, running_at_once, torch.cuda.device_count(), visible_cores())
    if placement.device != "cpu":
        torch.cuda.set_device(placement.device)
    torch.set_num_threads(placement.threads)
    os.environ["OMP_NUM_THREADS"] = str(placement.threads)  # train.threads=auto keeps the job's share
    log.info("Job %d of a sweep running %d at once: %s, %d CPU threads", hydra_cfg.job.num, running_at_once,
             placement.device, placement.threads)


def check_sweep_plugins(argv: list[str]) -> None:
    """A launcher or sweeper chosen on the command line whose plugin is not installed, or whose commands are not on
    PATH (SLURM's): a UserError naming the fix, before Hydra makes the sweep's folder. (Hydra itself would only say
    that it "Could not load 'hydra/launcher/joblib'"; submitit raises 'Could not detect "srun"'.)"""
    for arg in argv:
        group, _, option = arg.lstrip("+").partition("=")
        plugin = PLUGIN_OF_CHOICE.get((group, option))
        if plugin and importlib.util.find_spec(f"hydra_plugins.{plugin}") is None:
            raise UserError(f"{group}={option} needs Hydra's {plugin.replace('_', '-')} plugin, which is not "
                            "installed. Fix: pip install -e \".[sweeps]\" in gan-runner's folder (or pip install "
                            "\"gan-runner[sweeps]\"), which installs Hydra's joblib and submitit launchers and its "
                            "optuna sweeper.")
        missing = [command for command in COMMANDS_OF_CHOICE.get((group, option), ()) if shutil.which(command) is None]
        if missing:
            raise UserError(f"{group}={option} submits each job to SLURM, but {' and '.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} not on this machine's PATH: it is not a SLURM "
                            "login node. Fix: run the sweep where SLURM's commands are (a cluster's login node), or "
                            "run it here with hydra/launcher=parallel (jobs side by side on this machine) or without "
                            "hydra/launcher= (one job after another).")


def submitit_signal() -> signal.Signals | None:
    """The signal submitit sends this job at a time-out or a pre-emption, or None outside a submitit job."""
    if "SUBMITIT_FOLDER" not in os.environ:  # set by submitit.core.submission.process_job
        return None
    return signal.Signals["SIG" + os.environ.get(SUBMITIT_SIGNAL_VARIABLE, "USR2")]


def hand_over_to_submitit(summary: dict, resume: str | None) -> None:
    """After the loop stopped for submitit's signal and wrote its checkpoint: the signal again, now to
    submitit's handler (which StopSignals put back), which calls the launcher's checkpoint() to resubmit the
    same job and requeues it (the process exits there). Returns at once for any other ending."""
    requeue_signal = submitit_signal()
    if requeue_signal is None or summary.get("signal") != requeue_signal.name:
        return
    if resume is None:
        log.warning("Requeued with resume=null: the job will start over. Fix: launch with resume=auto, so that a "
                    "requeued job continues from the checkpoint in its own run directory.")
    signal.raise_signal(requeue_signal)


def parallel_jobs_here(jobs_per_gpu: int = 1) -> int:
    """${gan_parallel_jobs:${study.jobs_per_gpu}}: the parallel preset's default n_jobs on this machine."""
    import torch

    if isinstance(jobs_per_gpu, bool) or not isinstance(jobs_per_gpu, int) or jobs_per_gpu < 1:
        raise UserError(f"study.jobs_per_gpu={jobs_per_gpu!r} must be a whole number >= 1 (the parallel launcher's "
                        "jobs sharing each GPU). Fix: e.g. study.jobs_per_gpu=4.")
    return default_parallel_jobs(torch.cuda.device_count(), visible_cores(), jobs_per_gpu)


OmegaConf.register_new_resolver("gan_parallel_jobs", parallel_jobs_here, replace=True)

