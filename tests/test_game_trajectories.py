"""The pinned trajectories (scripts/pin_trajectories.py, taken before the engine learned of games): game=noise_to_data,
the default, trains every one of these configurations to the same losses and weights, step by step, as the engine
did before the redesign (docs/games.md)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import REPO

PINNED = json.loads((REPO / "tests" / "fixtures" / "trajectories.json").read_text())


def pinning_script():
    spec = importlib.util.spec_from_file_location("pin_trajectories", REPO / "scripts" / "pin_trajectories.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_default_game_trains_as_the_engine_did_before_games(name: str) -> None:
    script = pinning_script()
    assert script.CONFIGS[name] == PINNED[name]["overrides"]  # the script still pins what the fixture holds
    now = script.trajectory(PINNED[name]["overrides"])
    for step, (row, pinned) in enumerate(zip(now["losses"], PINNED[name]["losses"], strict=True), start=1):
        assert row == pytest.approx(pinned, rel=1e-5, abs=1e-6), f"step {step}"
    assert now["weight_sums"] == pytest.approx(PINNED[name]["weight_sums"], rel=1e-5, abs=1e-6)
