"""study/stacked_digits.py: the stacked-digits study's sweeps (every cell per held-out seed, in parallel, on the
benchmark preset) and its page: objective x regulariser matrices of gan-report's estimates, diverged runs counted,
the protocol's real-data numbers, seed 0's grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gan_runner.study import stacked_digits


def fake_sweep(folder: Path, seed: int, cells: dict[tuple[str, str], float | None]) -> None:
    """A seed's sweep as gan-run writes it: per cell a run with its study record and stacked/* metrics (None:
    diverged)."""
    for number, ((objective, regulariser), modes) in enumerate(cells.items()):
        run = folder / f"{number}_objective={objective},regulariser={regulariser}"
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "config.yaml").write_text(json.dumps({"seed": seed, "train": {"batch_size": 64}}))
        (run / ".hydra" / "overrides.yaml").write_text(json.dumps([f"objective={objective}",
                                                                   f"regulariser={regulariser}", f"seed={seed}"]))
        (run / "samples").mkdir()
        (run / "samples" / "step_006000.png").write_bytes(b"\x89PNG")
        study = {"choices": {"objective": objective, "regulariser": regulariser}}
        metrics = {"stacked/modes": modes, "stacked/kl": 0.5, "stacked/modes_quarter_share": modes,
                   "stacked/judge_accuracy": 0.9933, "stacked/modes_real": 1000.0, "stacked/kl_real": 0.0221,
                   "stacked/modes_quarter_share_real": 1000.0}
        (run / "summary.json").write_text(json.dumps(
            {"status": "diverged", "step": 7, "metrics": {}, "study": study} if modes is None else
            {"status": "completed", "step": 6000, "metrics": metrics, "study": study,
             "metrics_protocol": {"n": "26000", "judge": "RBF SVC"}}))
    (folder / "summary.txt").write_text("done\n")


def test_each_held_out_seed_is_one_parallel_sweep_of_every_cell(tmp_path: Path) -> None:
    command = stacked_digits.sweep_command(1, ["hinge", "wgan"], ["none", "gp"], tmp_path / "seed1")
    for part in ("experiment=stacked_benchmark", "objective=hinge,wgan", "regulariser=none,gp", "seed=1",
                 "hydra/launcher=parallel", "logger=none", f"hydra.sweep.dir={tmp_path / 'seed1'}"):
        assert part in command
    with pytest.raises(SystemExit):  # the seed that chose the budget is never reported
        stacked_digits.main(["--seeds", str(stacked_digits.TUNING_SEED), "--out", str(tmp_path)])


def test_the_page_is_objective_by_regulariser_with_divergences_counted(tmp_path: Path) -> None:
    out, page = tmp_path / "out", tmp_path / "docs" / "stacked_digits.md"
    fake_sweep(out / "seed0", 0, {("hinge", "none"): 900.0, ("hinge", "gp"): 1000.0, ("wgan", "none"): None})
    fake_sweep(out / "seed1", 1, {("hinge", "none"): 950.0, ("hinge", "gp"): 998.0, ("wgan", "none"): 10.0})
    text = stacked_digits.section(out, page, ["hinge", "wgan"], ["none", "gp"])
    assert "| `hinge` | 925 ± 3.2e+02 | 999 ± 13 |" in text  # mean ± t(0.975, 1) x sd / sqrt 2
    assert "| `wgan` | 10 (n=1, 1 diverged) | – |" in text
    assert "| 0.9933 | 1000 | 1000 | 0.0221 | 26000 | RBF SVC |" in text
    assert (page.parent / "stacked_digits" / "hinge_gp.png").is_file() and "hinge_gp.png" in text
