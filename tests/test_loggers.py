"""loggers/: the W&B mode (never an interactive prompt), and an unreachable server falls back to offline at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gan_runner.loggers.wandb_logger import WandbLogger, resolve_mode
from gan_runner.study.identity import RunIdentity




@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_offline_without_credentials(no_credentials: Path) -> None:
    assert resolve_mode(None) == "offline"


def test_online_with_an_api_key(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode(None) == "online"


def test_online_with_a_netrc_entry(no_credentials: Path) -> None:
    netrc = no_credentials / ".netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "x" * 40 + "\n")
    netrc.chmod(0o600)
    assert resolve_mode(None) == "online"


def test_wandb_mode_and_the_config_win(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode(None) == "disabled"
    assert resolve_mode("offline") == "offline"


def test_wandb_unreachable_online_falls_back_to_offline_at_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    logger = WandbLogger()
    started = time.time()
    logger.start({"x": 1}, tmp_path, RunIdentity("unreachable"))
    assert time.time() - started < 30
    assert logger.finish()["mode"] == "offline"
