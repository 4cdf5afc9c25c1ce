"""One run on several processes with torchrun, on the CPU with gloo: N=2 gives one process's losses at the same
global batch, resumes exactly (also onto another N), stops together on SIGTERM, writes one run directory and
one W&B run; the collectives' guarantees (a lost process, networks that differ) in processes of their own."""

from __future__ import annotations

import datetime
import functools
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import torch.distributed as dist
from torch import nn

from gan_runner import distributed
from gan_runner.errors import UserError
from gan_runner.metrics.fid import FID
from gan_runner.engine.state import EMA, TrainingState
from tests.conftest import TINY, metric_rows, noise_to_data_archs
from tests.test_fid import DIMS, folders, torch_home, weights  # noqa: F401 - fixtures: a random-weight Inception

BIN = Path(sys.executable).parent
# ring8's MLPs have no batch norm: with it, each process's statistics cover its share only.
SMALL = ["dataset=ring8", "train.batch_size=64", "train.log_every=1", "train.sample_every=1000",
         "train.checkpoint_every=1000", "train.device=cpu"]


def environment(cwd: Path) -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0",
            "WANDB_CONFIG_DIR": str(cwd / ".wandb-config"), "WANDB_CACHE_DIR": str(cwd / ".wandb-cache"),
            "OMP_NUM_THREADS": "1"}


def gan_run(processes: int, *args: str, cwd: Path, check: bool = True, **popen: Any) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node=N --no-python gan-run ARGS` (plain `gan-run` for N = 0)."""
    command = [str(BIN / "gan-run"), *args]
    if processes:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   "--no-python", *command]
    result = subprocess.run(command, cwd=cwd, env=environment(cwd), capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def assert_same_rows(one: list[dict], other: list[dict], rel: float = 1e-4) -> None:
    """Equal within floating-point tolerance. The gradient norms get 1e-2: a ReLU's kink that one sample's
    pre-activation meets within rounding sends that sample's gradient another way in one run, which moves a norm
    by ~1e-3 for one step (the losses, computed forward, do not move); runs that must agree more closely than a
    kink allows use SMOOTH networks."""
    assert [r["step"] for r in one] == [r["step"] for r in other]
    for a, b in zip(one, other):
        assert a.keys() == b.keys()
        for key in a:
            tolerance = 1e-2 if key.startswith("grad_norm/") else rel
            assert a[key] == pytest.approx(b[key], rel=tolerance, abs=1e-6), (a["step"], key)


# ELU in place of ReLU: no kink, so a last-bit difference between two summation orders stays a last-bit difference
# (with ReLU, a pre-activation within rounding of 0 moved WGAN's grad_norm/d by 1.4 % at step 17 on an AMD EPYC).
SMOOTH = ["arch.generator.activation._target_=torch.nn.ELU", "arch.discriminator.activation._target_=torch.nn.ELU"]


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    ["objective=nonsaturating", "regulariser=gp0"],
    ["objective=wgan", "regulariser=[spectral_norm,gp]", "train.n_critic=2", "optimizer@optimizer.g=sgd",
     "optimizer@optimizer.d=sgd", *SMOOTH],
], ids=["nonsaturating_gp0", "wgan_spectral_norm_gp"])
def test_two_processes_train_as_one_at_the_same_global_batch(tmp_path: Path, options: list[str]) -> None:
    """Each process takes half of every batch and of every per-sample draw (z, the penalty's interpolation
    points), and the gradients are averaged: 20 steps of losses, penalties, gradient norms, D's accuracies and
    singular values (spectral norm's vectors included) and the final metric equal one process's.

    The WGAN critic is trained with SGD: Adam and RMSProp with beta1 = 0 (ring8's TTUR betas, WGAN's RMSProp)
    step by about lr x sign(gradient) at first, which turns a gradient component of ~1e-9 whose sign differs in
    the last bit between the two summation orders into a full step, so two equally right runs part after a
    few steps. (With the non-saturating loss no component sits that close to zero and Adam's runs agree.)"""
    args = [*SMALL, *options, "train.steps=20", "metrics.n_samples=500"]
    gan_run(0, *args, "logger=none", "hydra.run.dir=one", cwd=tmp_path)
    gan_run(2, *args, "logger=wandb", "hydra.run.dir=two", cwd=tmp_path)
    one, two = metric_rows(tmp_path / "one"), metric_rows(tmp_path / "two")
    assert len(one) == 21 and {"loss/d", "loss/g", "grad_norm/d", "sigma/D"} <= set(one[0])
    assert_same_rows(one, two)
    assert two[-2]["images_seen"] == 20 * 64 * (2 if "wgan" in options[0] else 1)
    # Process 0 alone wrote: one run directory, one W&B run, no folder of another process's.
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["wandb"]["mode"] == "offline"
    assert len(list((tmp_path / "two" / "wandb").glob("offline-run-*"))) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["one", "two"]


@pytest.mark.slow
def test_a_two_process_run_resumes_exactly_also_on_one_process(tmp_path: Path) -> None:
    """The 2-process run's checkpoint at step 12 (between two rows of a 5-step cadence), continued on 2 and on 1
    process: both give the uninterrupted run's rows, the statistics of steps 11 and 12 (kept in the checkpoint,
    averaged over the processes) included."""
    args = [*SMALL, "train.log_every=5", "train.checkpoint_every=12", "train.keep_checkpoints=2", "metrics=none",
            "logger=none", "train.steps=20"]
    gan_run(2, *args, "hydra.run.dir=whole", cwd=tmp_path)
    for resumed, processes in (("on_two", 2), ("on_one", 0)):
        subprocess.run(["cp", "-r", "whole", resumed], cwd=tmp_path, check=True)
        checkpoints = tmp_path / resumed / "checkpoints"
        (checkpoints / "step_000012.pt").replace(checkpoints / "last.pt")
        gan_run(processes, f"resume={resumed}", cwd=tmp_path)
    whole = metric_rows(tmp_path / "whole")
    assert [r["step"] for r in whole] == [5, 10, 15, 20]
    assert_same_rows(metric_rows(tmp_path / "on_two"), whole, rel=1e-5)
    assert_same_rows(metric_rows(tmp_path / "on_one"), whole, rel=1e-5)
    assert json.loads((tmp_path / "on_one" / "summary.json").read_text())["resumed_from_step"] == 12


# Every architecture family as a user runs it: batch norm (dcgan, resnet, sagan, biggan) keeps running statistics
# per process, which are averaged before each checkpoint, evaluation and picture.
CONDITIONAL = {"resnet": ["conditional=true"], "biggan": ["conditional=true"]}  # the others (new ones too) as they are


@pytest.mark.slow
@pytest.mark.parametrize("arch", noise_to_data_archs())
def test_every_architecture_family_trains_and_resumes_on_two_processes(tmp_path: Path, arch: str) -> None:
    """Two processes train the family (tiny) to completion on digits with checkpoints, evaluations and sample
    pictures every 2 steps; the checkpoint resumes onto one process, and (the default DCGAN) onto two."""
    args = ["dataset=digits", f"arch={arch}", *TINY, *CONDITIONAL.get(arch, []), "train.batch_size=8",
            "train.device=cpu", "train.log_every=1", "train.checkpoint_every=2", "train.sample_every=2",
            "metrics.every=2", "metrics.n_samples=100", "logger=none"]
    gan_run(2, *args, "train.steps=4", "hydra.run.dir=two", cwd=tmp_path)
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["status"] == "completed" and "digits/frechet" in summary["metrics"]
    assert sorted(p.name for p in (tmp_path / "two" / "samples").glob("step_*.png")) == \
        ["step_000002.png", "step_000004.png"]
    resumes = [("on_one", 0)] + ([("on_two", 2)] if arch == "dcgan" else [])
    for resumed, processes in resumes:
        subprocess.run(["cp", "-r", "two", resumed], cwd=tmp_path, check=True)
        gan_run(processes, f"resume={resumed}", "train.steps=6", cwd=tmp_path)
        summary = json.loads((tmp_path / resumed / "summary.json").read_text())
        assert (summary["status"], summary["step"], summary["resumed_from_step"]) == ("completed", 6, 4)
        assert [row["step"] for row in metric_rows(tmp_path / resumed) if "loss/d" in row] == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_two_nodes_on_one_machine_train_as_one_node_with_two_processes(tmp_path: Path) -> None:
    """Two torchrun agents (--nnodes=2, one process each) meeting through c10d's rendezvous on localhost train the
    default DCGAN (batch norm) as one torchrun agent with two processes does: the same rows."""
    args = [str(BIN / "gan-run"), *TINY, "train.batch_size=8", "train.device=cpu", "train.log_every=1",
            "train.steps=6", "metrics=none", "logger=none"]
    gan_run(2, *args[1:], f"hydra.run.dir={tmp_path / 'one_node'}", cwd=tmp_path)
    port = free_port()
    agents = []
    for node in (0, 1):
        (tmp_path / f"node{node}").mkdir()
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
                   f"--node_rank={node}", "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}",
                   "--rdzv_id=two_nodes", "--no-python", *args, f"hydra.run.dir={tmp_path / 'two_nodes'}"]
        agents.append(subprocess.Popen(command, cwd=tmp_path / f"node{node}", env=environment(tmp_path),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [agent.communicate(timeout=300) for agent in agents]
    assert [agent.returncode for agent in agents] == [0, 0], outputs[0][1][-3000:] + outputs[1][1][-3000:]
    assert_same_rows(metric_rows(tmp_path / "two_nodes"), metric_rows(tmp_path / "one_node"), rel=1e-5)


@pytest.mark.slow
def test_sigterm_to_the_group_stops_every_process_with_one_checkpoint(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--no-python",
               str(BIN / "gan-run"), *SMALL, "train.steps=100000", "train.log_every=10", "logger=none",
               "metrics=none", "hydra.run.dir=run"]
    process = subprocess.Popen(command, cwd=tmp_path, env=environment(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM", stderr[-3000:]
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["last.pt"]
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)
    assert checkpoint["step"] == summary["step"] >= 20
    assert (stdout + stderr).count("received at step") == 1  # process 0 says so; the other logs nothing


def test_a_batch_the_processes_do_not_divide_is_refused(tmp_path: Path) -> None:
    result = gan_run(2, *SMALL, "train.batch_size=63", "train.steps=2", "logger=none", "metrics=none",
                     "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "train.batch_size=63 is the global batch" in result.stderr and "train.batch_size=62" in result.stderr
    assert "gan_runner/" not in result.stderr  # one paragraph, no traceback of ours (torchrun adds its own)


def test_a_sweep_under_torchrun_is_refused(tmp_path: Path) -> None:
    result = gan_run(2, "-m", "seed=0,1", *SMALL, cwd=tmp_path, check=False)
    assert result.returncode != 0 and "one torchrun trains one run" in result.stderr


# Collectives in two processes of their own (gloo): what a lost peer, differing networks and sync batch norm do.

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, task: Callable[[int], Any], results: Any, timeout_s: float) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    try:
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=timeout_s))
        results.put((rank, task(rank)))
    except BaseException as error:  # noqa: BLE001 - the test inspects what each process raised
        results.put((rank, f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
    finally:
        results.close()
        results.join_thread()  # the result is sent before the process ends
        os._exit(0)  # no clean-up that could wait for a peer


def in_two_processes(task: Callable[[int], Any], timeout: float = 90, timeout_s: float = 10) -> dict[int, Any]:
    """`task(rank)` in two new processes joined by gloo (collectives give up after `timeout_s`): their results."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    port = free_port()
    workers = [context.Process(target=_worker, args=(rank, port, task, results, timeout_s)) for rank in range(2)]
    for worker in workers:
        worker.start()
    outcome = dict(results.get(timeout=timeout) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    return outcome


def lose_a_peer(rank: int) -> str:
    if rank == 1:
        return "gone"  # and the process ends without leaving the group, as a crash would
    started = time.monotonic()
    try:
        distributed.max_over_ranks(1)
        distributed.max_over_ranks(1)
    except distributed.PeerLost as error:
        return f"PeerLost after {time.monotonic() - started:.0f} s: {error}"
    return "no error"


def test_a_lost_process_ends_the_others_with_one_paragraph() -> None:
    outcome = in_two_processes(lose_a_peer)
    assert outcome[0].startswith("PeerLost"), outcome[0]
    assert "Process 0 of 2 lost contact with the run's other processes" in outcome[0]
    assert float(outcome[0].split()[2]) <= 15  # a closed connection, or the 10 s timeout at worst


def hang(rank: int) -> str:
    if rank == 1:
        time.sleep(8)  # alive, but never joins the collective
        return "slept"
    started = time.monotonic()
    try:
        distributed.max_over_ranks(1)
    except distributed.PeerLost as error:
        return f"PeerLost after {time.monotonic() - started:.0f} s: {error}"
    return "no error"


def test_a_hung_process_ends_the_others_after_the_timeout() -> None:
    outcome = in_two_processes(hang, timeout_s=3)
    assert outcome[0].startswith("PeerLost") and 2 <= float(outcome[0].split()[2]) <= 10, outcome[0]


def differing_networks(rank: int) -> str:
    torch.manual_seed(rank)  # a bug: the processes' networks start apart
    try:
        distributed.check_identical({"D": nn.Linear(3, 2)})
    except RuntimeError as error:
        return str(error)
    return "no error"


def identical_networks(rank: int) -> str:
    torch.manual_seed(0)
    distributed.check_identical({"D": nn.Linear(3, 2)})
    return "ok"


def test_networks_that_differ_between_processes_are_caught() -> None:
    assert set(in_two_processes(identical_networks).values()) == {"ok"}
    assert all("networks differ" in text for text in in_two_processes(differing_networks).values())


def batch_norm_step(differently: bool, rank: int) -> str:
    """Each process normalises its own data (running statistics apart), then takes an SGD step: the same one, or
    on process 1 with twice the learning rate (differently)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(torch.randn(8, 3) + rank).sum().backward()
    distributed.average([p.grad for p in model.parameters()])
    torch.optim.SGD(model.parameters(), lr=0.1 * (2 if differently and rank == 1 else 1)).step()
    state = TrainingState(model, nn.Linear(1, 1), EMA(model, 0.9), None, None, {}, precision=None, health=None)
    state.share_running_statistics()
    try:
        distributed.check_identical({"G": model, "G_ema": state.ema.model})
    except RuntimeError as error:
        return str(error)
    return "identical"


def test_running_statistics_are_shared_and_a_process_that_steps_differently_is_caught() -> None:
    """Batch norm's running statistics differ per process by design and are averaged; a parameter that differs is
    a real fault, named in the error."""
    assert set(in_two_processes(functools.partial(batch_norm_step, False)).values()) == {"identical"}
    errors = in_two_processes(functools.partial(batch_norm_step, True)).values()
    assert all("networks differ (first in G.0.weight)" in text for text in errors), errors


def shares(rank: int) -> Any:
    """Each process's part of the global batch, of the per-sample draws and of the gathered rows."""
    torch.manual_seed(3)
    draws = distributed.per_sample(torch.rand, (3, 2))
    import numpy as np

    gathered = distributed.gather_rows(np.arange(distributed.rows(7)[0], distributed.rows(7)[1]))
    try:
        distributed.sync_batchnorm(nn.BatchNorm1d(2), torch.device("cpu"))
        refusal = "none"
    except UserError as error:
        refusal = str(error)
    return (distributed.shard(torch.arange(8)).tolist(), draws.tolist(), distributed.rows(7), gathered.tolist(),
            refusal)


def test_each_process_keeps_its_share_of_the_global_batch() -> None:
    outcome = in_two_processes(shares)
    torch.manual_seed(3)
    whole = torch.rand(6, 2)
    for rank in (0, 1):
        batch, draws, rows, gathered, refusal = outcome[rank]
        assert batch == list(range(4 * rank, 4 * rank + 4))
        assert draws == whole[3 * rank:3 * rank + 3].tolist()  # the same generator, the same numbers
        assert tuple(rows) == [(0, 4), (4, 7)][rank] and gathered == list(range(7))
        assert "SyncBatchNorm does not run on the CPU" in refusal


def test_torchrun_with_one_process_is_the_plain_run(tmp_path: Path) -> None:
    """torchrun's path (the process group joined, process 0 writing) with one process: the plain run's rows."""
    args = [*SMALL, "train.steps=5", "metrics=none", "logger=none"]
    gan_run(0, *args, "hydra.run.dir=plain", cwd=tmp_path)
    gan_run(1, *args, "hydra.run.dir=torchrun", cwd=tmp_path)
    assert metric_rows(tmp_path / "plain") == metric_rows(tmp_path / "torchrun")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc (Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_a_killed_process_ends_the_run_with_its_checkpoint_kept(tmp_path: Path) -> None:
    """kill -9 of process 1 mid-run of the default DCGAN (batch norm): torchrun stops process 0, which says why in
    one paragraph; last.pt stays, and gan-run resume=DIR continues it on one process."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--no-python",
               str(BIN / "gan-run"), *TINY, "train.batch_size=8", "train.device=cpu",
               "train.steps=100000", "train.log_every=10", "train.checkpoint_every=20", "logger=none", "metrics=none",
               "hydra.run.dir=run"]
    process = subprocess.Popen(command, cwd=tmp_path, env=environment(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    (worker,) = [pid for pid in children(process.pid) if b"RANK=1" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")]
    os.kill(worker, signal.SIGKILL)
    started = time.monotonic()
    stdout, stderr = process.communicate(timeout=120)
    assert time.monotonic() - started < 60 and process.returncode != 0
    assert torch.load(last, weights_only=False)["step"] >= 20
    assert not (tmp_path / "run" / "summary.json").exists() or "completed" not in (tmp_path / "run" / "summary.json").read_text()
    # Process 0 finds its peer gone at its next collective (or, if torchrun's SIGTERM comes first, when the stop is
    # agreed), and says so in one paragraph.
    assert "gan-run: error: Process 0 of 2 lost contact with the run's other processes" in stderr, stderr[-3000:]
    assert "Connection" in stderr and "resume=" in stderr
    kept = torch.load(last, weights_only=False)["step"]
    gan_run(0, "resume=run", f"train.steps={kept + 5}", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["status"], summary["resumed_from_step"], summary["step"]) == ("completed", kept, kept + 5)


def fid_in_two_processes(torch_home: str, reference: str, cache: str, rank: int) -> float:
    """The FID of 40 given images, each process embedding its 20 (FID's sampler protocol: rows)."""
    os.environ["TORCH_HOME"] = torch_home
    images = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(7)) * 2 - 1
    shares: list[tuple[int, int]] = []

    def sample(n: int, rows: tuple[int, int] | None = None):
        shares.append(rows)
        return iter(images[slice(*rows)].split(10))

    metric = FID(n_samples=40, reference=reference, dims=DIMS, batch_size=5, cache_dir=f"{cache}/{rank}")
    value = metric(sample, None)["fid40_c_64d"]
    assert shares == [[(0, 20), (20, 40)][rank]]
    return value


def test_fid_on_two_processes_shares_the_samples_and_equals_one_process(
        weights: Path, folders: dict[str, Path], tmp_path: Path) -> None:
    task = functools.partial(fid_in_two_processes, str(weights.parents[2]), str(folders["C"]), str(tmp_path))
    outcome = in_two_processes(task)
    images = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(7)) * 2 - 1
    alone = FID(n_samples=40, reference=str(folders["C"]), dims=DIMS, batch_size=5, cache_dir=str(tmp_path / "alone"))
    expected = alone(lambda n, rows=None: iter(images[slice(*(rows or (0, n)))].split(10)), None)["fid40_c_64d"]
    assert isinstance(outcome[0], float), outcome[0]
    assert outcome[0] == outcome[1] == pytest.approx(expected, rel=1e-6)
    assert len(list((tmp_path / "0").glob("*.npz"))) == 1 and not (tmp_path / "1").exists()  # process 0 caches


def test_a_divergence_stops_every_process_with_the_good_checkpoint_kept(tmp_path: Path) -> None:
    """A step whose statistics are not finite is the earliest bad step of any process: all stop at that row."""
    result = gan_run(2, *SMALL, "train.lr_d=1e30", "train.steps=50", "train.log_every=5", "train.checkpoint_every=5",
                     "metrics=none", "logger=none", "hydra.run.dir=run", cwd=tmp_path, check=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert result.returncode != 0 and summary["status"] == "diverged", result.stderr[-2000:]
    assert summary["diverged"]["step"] < 50 and result.stdout.count("Diverged:") + result.stderr.count("Diverged:") == 1


@pytest.mark.slow
def test_two_processes_on_a_prepared_image_folder_train_as_one(tmp_path: Path) -> None:
    """A prepared, mirrored image folder: each process gathers its own rows of every global batch from the memory
    map (flips included), and the losses equal one process's (an MLP: no batch norm to see only a share)."""
    from tests.test_data_prepared import make_images

    make_images(tmp_path / "images", n=8)
    args = ["dataset=image_folder", f"dataset.root={tmp_path / 'images'}", "dataset.resolution=8",
            f"dataset.prepared_dir={tmp_path / 'prep'}", "dataset.mirror=true", "arch=mlp", "arch.generator.width=32",
            "arch.discriminator.width=32", "metrics=none", "logger=none", "train.batch_size=8", "train.steps=6",
            "train.log_every=1", "train.sample_every=1000", "train.checkpoint_every=1000", "train.device=cpu", *SMOOTH]
    gan_run(0, *args, "hydra.run.dir=one", cwd=tmp_path)  # prepares the copy; the two processes read it
    gan_run(2, *args, "hydra.run.dir=two", cwd=tmp_path)
    one, two = metric_rows(tmp_path / "one"), metric_rows(tmp_path / "two")
    assert len(one) == 6 and "loss/d" in one[0]
    assert_same_rows(one, two)
