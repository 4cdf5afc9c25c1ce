"""scripts/stacked_digits.py: the stacked-digits study's sweeps (every cell per held-out seed, in parallel, on the
benchmark preset) and its page: objective x regulariser matrices of gan-report's estimates, diverged runs counted,
the protocol's real-data numbers, seed 0's grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stacked_digits  # scripts/ (tests/conftest.py puts it on sys.path)


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


def test_every_network_size_on_the_page_is_counted_from_the_networks_the_benchmark_builds(tmp_path: Path) -> None:
    """`python scripts/stacked_digits.py --table-only` in a checkout without the study's outputs writes the sizes of
    G and D counted from the networks `gan-run experiment=stacked_benchmark` builds; every size the committed page
    prints ("N parameters") is one of them (it once said 4,161 for D: a width-64 D's count, where the preset's has
    width 16)."""
    import re
    import shutil

    from hydra import compose, initialize_config_module

    from gan_runner.arch import count_parameters
    from gan_runner.engine.build import networks

    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=stacked_benchmark", "logger=none"])
    side = cfg.dataset.resolution
    G, D, _ = networks(cfg, (3, side, side), None)  # three digits in R, G and B
    g, d = count_parameters(G), count_parameters(D)
    committed = Path(__file__).resolve().parents[1] / "docs" / "results" / "stacked_digits.md"
    printed = {int(number.replace(",", "")) for number in re.findall(r"([\d,]*\d) parameters", committed.read_text())}
    assert printed == {g, d}
    page = shutil.copyfile(committed, tmp_path / "stacked_digits.md")
    stacked_digits.main(["--table-only", "--out", str(tmp_path / "no_outputs"), "--doc", str(page),
                         "--readme", str(tmp_path / "README.md")])
    written = page.read_text()
    section = written.split("<!-- stacked_digits.py networks: begin -->")[1].split("<!-- stacked_digits.py")[0]
    assert f"G of width {cfg.arch.generator.width}, {g:,} parameters" in section
    assert f"D of width {cfg.arch.discriminator.width} (0.25 of G's width), {d:,} parameters" in section
    assert written == committed.read_text(), "stale page: run python scripts/stacked_digits.py --table-only"
