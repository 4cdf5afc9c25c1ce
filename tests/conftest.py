"""Shared helpers: compose the real config with Hydra's compose API, shrunk to run in seconds on a CPU; run the
commands as a user would (a subprocess per command); read an offline W&B run back."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
import torch
from omegaconf import DictConfig, OmegaConf

# One CPU thread for the tests and the commands they start (train.threads=auto keeps OMP_NUM_THREADS): numbers that
# do not depend on the machine's load, and none of the slowdown of threads that wait for busy cores when CI's 2
# cores are shared (3.8x with torch's default threads: docs/results/speed.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# The tools that run studies and write docs/ pages live in scripts/, outside the installed package: their tests import
# them by name, as they import each other when run (python scripts/X.py puts scripts/ on sys.path).
sys.path.append(str(REPO / "scripts"))

# Tiny networks, two steps, CPU, no logger: what every "does it train" test starts from.
SHRINK = [
    "train.steps=2", "train.batch_size=8", "train.device=cpu", "train.log_every=1",
    "train.sample_every=1", "train.checkpoint_every=1", "logger=none", "metrics=none",
]


def options(group: str) -> list[str]:
    """Every option of a config group, read from conf/ so that a new YAML file is tested at once."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def archs_of(game: str) -> list[str]:
    """The architectures of conf/arch/ built for `game`: their YAML's `game` (none: noise_to_data)."""
    return [arch for arch in options("arch")
            if OmegaConf.load(CONF / "arch" / f"{arch}.yaml").get("game", "noise_to_data") == game]


def noise_to_data_archs() -> list[str]:
    """The architectures of conf/arch/ that make data from noise under game=noise_to_data, G(z): all but those whose
    YAML names another game (pix2pix, srgan: game=paired, built as tests/test_arch_paired.py does; progan:
    game=progressive, tests/test_progressive.py)."""
    return archs_of("noise_to_data")


# Every architecture at 8 channels or units wide: a few thousand to twenty thousand parameters (as debug=fast).
TINY = ["arch.generator.width=8", "arch.discriminator.width=8"]
# The 2-D ring with the tiny MLP, no metric and no logger: the quickest real run.
RING = ["dataset=ring8", "logger=none", "metrics=none", "train.device=cpu", "train.batch_size=32", *TINY]


TIMINGS = ("speed/", "memory/")  # row keys that measure the machine, not the run: they differ between any two runs


def metric_rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl's rows without their timings: what two runs of one seed must agree on."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if not k.startswith(TIMINGS)} for row in rows]




def losses(run_dir: Path) -> list[dict]:
    """The rows of the training statistics (not the evaluations'), without timings."""
    return [row for row in metric_rows(run_dir) if "loss/d" in row]


def make_config(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach the network or a user's W&B settings."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", os.devnull)


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Prepared datasets go to a folder of the test's own (beside tmp_path, which tests fill with images), never to
    the user's ~/.cache/gan-runner."""
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path.parent / f"{tmp_path.name}-cache"))


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> None:
    """Every logger's handlers, level and propagation as before the test. A test that runs gan-run's main() in its
    own process leaves Hydra's job logging configured: a file handler on the run directory under that test's
    tmp_path, which a later test's log line in the same worker would open after the folder is gone."""
    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    before = {logger: (list(logger.handlers), logger.level, logger.propagate, logger.disabled) for logger in loggers}
    yield
    for logger, (handlers, level, propagate, disabled) in before.items():
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


BIN = Path(sys.executable).parent  # the commands of the environment the tests run in


def run(tool: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0",
           "WANDB_CONFIG_DIR": str(cwd / ".wandb-config"), "WANDB_CACHE_DIR": str(cwd / ".wandb-cache")}
    result = subprocess.run([str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def wandb_records(run_dir: Path) -> list[dict]:
    """Every record of the offline W&B run under run_dir, read back with `wandb leet inspect --json`."""
    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    out = subprocess.run([str(BIN / "wandb"), "leet", "inspect", "--json", str(log)],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def without_synchronising(work: object) -> None:
    """`work()` with any host synchronisation an error (torch.cuda.set_sync_debug_mode)."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        work()
    finally:
        torch.cuda.set_sync_debug_mode(0)


# A short default run (DCGAN on digits, tiny) as a user would start it.
SMALL_RUN = ["train.steps=4", "train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2",
             "train.batch_size=16", "dataset.resolution=8", "arch.generator.width=8", "arch.discriminator.width=8",
             "metrics=none", "train.device=cpu"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny default run (DCGAN on digits) logged to an offline W&B run."""
    cwd = tmp_path_factory.mktemp("cwd")
    run("gan-run", *SMALL_RUN, "hydra.run.dir=run", cwd=cwd)
    return cwd / "run"
