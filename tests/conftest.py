"""Shared helpers: compose the real config with Hydra's compose API, shrunk to run in seconds on a CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# Tiny networks, two steps, CPU, no logger: what every "does it train" test starts from.
SHRINK = [
    "train.steps=2", "train.batch_size=8", "train.device=cpu", "train.log_every=1",
    "train.sample_every=1", "train.checkpoint_every=1", "logger=none", "metrics=none",
]


def options(group: str) -> list[str]:
    """Every option of a config group, read from conf/ so that a new YAML file is tested at once."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


# Every architecture at 8 channels or units wide: a few thousand to twenty thousand parameters (as debug=fast).
TINY = ["arch.generator.width=8", "arch.discriminator.width=8"]


TIMINGS = ("speed/", "memory/")  # row keys that measure the machine, not the run: they differ between any two runs


def metric_rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl's rows without their timings: what two runs of one seed must agree on."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if not k.startswith(TIMINGS)} for row in rows]




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
