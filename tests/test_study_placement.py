"""Sweeps through Hydra's own launchers: the parallel preset (joblib), submitit's requeue after its time-out
signal, and the pure placement of a job on a GPU and a share of the cores (gan_runner.study.placement)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from gan_runner.study import placement as launch
from gan_runner.errors import UserError
from gan_runner.study.placement import Placement, concurrent_jobs, default_parallel_jobs, job_placement
from tests.conftest import REPO, metric_rows

# A ring8 run of a few seconds: a loss row every 50 steps, no W&B.
TINY_RING = ["dataset=ring8", "logger=none", "train.log_every=50"]


def gan_run(*args: str, cwd: Path, **popen: object) -> subprocess.Popen:
    """The real CLI in a process of its own session, so that a failed test can stop it with all it started.
    One thread each: several run at once here, and threads waiting on one another's cores slow all of them."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "gan_runner.commands.run", *args], cwd=cwd, env=env,
                            start_new_session=True, **popen)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    """gan-run processes a test starts; any still running at its end are stopped with their children."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def finish(process: subprocess.Popen, timeout: float) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def rows(run_dir: Path) -> list[dict]:
    return metric_rows(run_dir)


# --- where a job runs ------------------------------------------------------------------------------------


def test_jobs_take_the_gpus_in_turn_and_share_the_cores() -> None:
    assert [job_placement(num, 4, gpu_count=2, cores=16).device for num in range(5)] == [
        "cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert job_placement(3, 4, gpu_count=2, cores=16).threads == 4


def test_without_gpus_each_job_trains_on_the_cpu_with_its_share_of_the_cores() -> None:
    assert job_placement(5, 2, gpu_count=0, cores=8) == Placement("cpu", 4)
    assert job_placement(0, 3, gpu_count=0, cores=8).threads == 2
    assert job_placement(0, 16, gpu_count=0, cores=2).threads == 1  # never none


def test_the_parallel_preset_runs_a_job_per_gpu_else_a_job_per_two_cores() -> None:
    assert default_parallel_jobs(gpu_count=4, cores=64) == 4
    assert default_parallel_jobs(gpu_count=0, cores=16) == 8
    assert default_parallel_jobs(gpu_count=0, cores=2) == 2  # a parallel preset runs jobs side by side


def test_jobs_per_gpu_packs_k_jobs_on_each_gpu_each_with_its_share_of_the_cores() -> None:
    assert default_parallel_jobs(gpu_count=2, cores=16, jobs_per_gpu=4) == 8
    assert default_parallel_jobs(gpu_count=0, cores=16, jobs_per_gpu=4) == 8  # no GPU: a job per two cores
    running = [job_placement(num, 8, gpu_count=2, cores=16) for num in range(8)]  # the first 8 jobs, at once
    assert [p.device for p in running].count("cuda:0") == [p.device for p in running].count("cuda:1") == 4
    assert {p.threads for p in running} == {2}
    assert job_placement(0, 8, gpu_count=1, cores=4).threads == 1  # never none


def test_the_parallel_presets_n_jobs_follows_study_jobs_per_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from hydra import compose, initialize_config_module

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        packed = compose(config_name="config", overrides=["hydra/launcher=parallel", "study.jobs_per_gpu=3"],
                         return_hydra_config=True)
        plain = compose(config_name="config", overrides=["hydra/launcher=parallel"], return_hydra_config=True)
        wrong = compose(config_name="config", overrides=["hydra/launcher=parallel", "study.jobs_per_gpu=0"],
                        return_hydra_config=True)
    assert (packed.hydra.launcher.n_jobs, plain.hydra.launcher.n_jobs) == (6, 2)
    with pytest.raises(Exception, match="study.jobs_per_gpu=0 must be a whole number >= 1"):
        wrong.hydra.launcher.n_jobs


def test_n_jobs_reads_as_joblib_reads_it() -> None:
    assert concurrent_jobs(3, cores=8) == 3
    assert concurrent_jobs(-1, cores=8) == 8  # all cores
    assert concurrent_jobs(-2, cores=8) == 7  # all but one
    assert concurrent_jobs(None, cores=8) == 1  # basic and submitit launchers: no jobs beside this one


def test_a_launcher_whose_plugin_is_missing_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch.shutil, "which", lambda command: f"/usr/bin/{command}")  # as on a SLURM login node
    launch.check_sweep_plugins(["hydra/launcher=parallel", "hydra/launcher=slurm", "hydra/sweeper=optuna"])
    monkeypatch.setattr(launch.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r'pip install -e "\.\[sweeps\]"'):
        launch.check_sweep_plugins(["seed=1", "hydra/launcher=parallel"])
    launch.check_sweep_plugins(["seed=1", "hydra/launcher=basic"])  # Hydra's own: nothing to install


# --- the presets' configs --------------------------------------------------------------------------------


def launcher_config(*overrides: str) -> DictConfig:
    """hydra.launcher as gan-run would compose it with these overrides."""
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True).hydra.launcher


def test_the_presets_extend_the_plugins_own_configs() -> None:
    parallel = launcher_config("hydra/launcher=parallel")
    assert parallel._target_.endswith("JoblibLauncher") and parallel.n_jobs >= 2
    assert launcher_config("hydra/launcher=parallel", "hydra.launcher.n_jobs=3").n_jobs == 3
    slurm = launcher_config("hydra/launcher=slurm")
    assert slurm._target_.endswith("SlurmLauncher")
    assert (slurm.gpus_per_node, slurm.tasks_per_node, slurm.partition) == (1, 1, None)
    assert slurm.max_num_timeout > 0 and slurm.additional_parameters.requeue


def test_the_slurm_preset_asks_slurm_for_the_time_out_signal_and_requeues(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The sbatch file submitit writes from the preset, its values passed on as hydra-submitit-launcher's
    SlurmLauncher.launch passes them (submitit's own code; a stand-in srun, as no SLURM is needed)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    (tmp_path / "srun").write_text("#!/bin/sh\n")
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    params = OmegaConf.to_container(launcher_config("hydra/launcher=slurm"))
    del params["_target_"], params["submitit_folder"]
    max_num_timeout = params.pop("max_num_timeout")  # the launcher gives it to the executor, not to sbatch
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path, slurm_max_num_timeout=max_num_timeout)
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in shared else f"slurm_{key}": value for key, value in params.items()})
    sbatch = executor._executor._make_submission_file_text("true", "uid")
    for flag in ["--signal=USR2@120", "--requeue", "--gpus-per-node=1", "--ntasks-per-node=1", "--time=240"]:
        assert f"#SBATCH {flag}\n" in sbatch
    assert "--partition" not in sbatch  # the cluster's default


# --- real sweeps -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_parallel_sweep_runs_each_job_in_its_own_run_directory(tmp_path: Path, started: list) -> None:
    sweep = tmp_path / "sweep"
    process = gan_run("-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", *TINY_RING, "train.steps=100",
                      "objective=hinge,wgan", "seed=0,1", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started.append(process)
    finish(process, timeout=300)
    job_dirs = sorted(path.parent for path in sweep.glob("*/.hydra"))
    assert [path.name.split("_")[0] for path in job_dirs] == ["0", "1", "2", "3"]
    for number, job_dir in enumerate(job_dirs):
        assert json.loads((job_dir / "summary.json").read_text())["status"] == "completed"
        log_text = (job_dir / "gan-run.log").read_text()  # each loky worker logs to its job's own file
        assert f"Job {number} of a sweep running 2 at once: cpu, " in log_text
        assert rows(job_dir)[-1]["step"] == 100


@pytest.mark.slow
def test_a_parallel_sweep_whose_job_crashes_runs_the_other_and_exits_1_naming_it(tmp_path: Path, started: list) -> None:
    """A bug in a user's component (its constructor raises) crashes job 0 in its loky worker: job 1 still completes,
    the sweep's summary names job 0 with its reason (the traceback in the job's log, none on the console) and the
    sweep exits 1."""
    (tmp_path / "boom.py").write_text("class Boom:\n    def __init__(self):\n"
                                      "        raise RuntimeError('a bug in a user objective')\n")
    sweep = tmp_path / "sweep"
    process = gan_run("-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", *TINY_RING, "metrics=none",
                      "train.steps=3", "objective._target_=boom.Boom,gan_runner.objectives.hinge.Hinge",
                      f"hydra.sweep.dir={sweep}", cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      text=True)
    started.append(process)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output[-3000:]
    crashed, completed = (sweep / "summary.txt").read_text().splitlines()
    assert crashed.startswith("0_objective._target_=boom.Boom: failed: crashed: ")
    assert "a bug in a user objective" in crashed and completed.endswith("completed at step 3")
    assert "1 of 2 jobs failed" in output and "Traceback" not in output
    assert "Traceback" in (sweep / "0_objective._target_=boom.Boom" / "gan-run.log").read_text()


def holder_of(path: Path) -> int | None:
    """The process that has `path` open (Linux's /proc): here, the job process logging to its gan-run.log."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return int(pid)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return None


def wait_for_a_loss_row(run_dir: Path, process: subprocess.Popen, timeout: float = 180) -> None:
    """Until the job's loop has written its first row: it is training, with gan-run's handlers installed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        metrics = run_dir / "metrics.jsonl"
        if metrics.is_file() and metrics.read_text().count("\n") >= 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"no loss row in {run_dir} (the sweep ended with {process.poll()})")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the job's process through /proc")
def test_a_submitit_job_signalled_to_time_out_is_requeued_and_resumes_exactly(tmp_path: Path,
                                                                               started: list) -> None:
    """submitit's local executor runs each job as the SLURM executor would, with the same handler: its
    time-out signal (SIGUSR2) makes gan-run checkpoint, then submitit requeues the job (the local controller
    starts the job's process again), and with resume=auto it continues in its own run directory."""
    run = [*TINY_RING, "train.steps=300", "seed=0"]
    sweep = tmp_path / "sweep"
    process = gan_run("-m", "hydra/launcher=submitit_local", "resume=auto", *run, f"hydra.sweep.dir={sweep}",
                      cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started.append(process)
    reference = gan_run(*run, f"hydra.run.dir={tmp_path / 'uninterrupted'}", cwd=tmp_path,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started.append(reference)
    job_dir = sweep / "0_defaults"  # a sweep that varies nothing
    wait_for_a_loss_row(job_dir, process)
    job_process = holder_of(job_dir / "gan-run.log")
    assert job_process is not None and job_process != process.pid
    os.kill(job_process, signal.SIGUSR2)
    finish(process, timeout=300)
    finish(reference, timeout=300)

    summary = json.loads((job_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and 0 < summary["resumed_from_step"] < 300
    assert "Requeued job" in (job_dir / "gan-run.log").read_text()  # submitit's logger, in the job's log
    assert rows(job_dir) == rows(tmp_path / "uninterrupted")
