"""The presets' results page (scripts/results.py) without training: the sweep it builds for an image preset and for an MLP preset, and that a
finished sweep (its summary.txt written) is not run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import options


@pytest.fixture(scope="module")
def results():
    import results

    return results


def test_every_preset_is_found_and_has_a_dataset(results) -> None:
    # Every preset but the one that brings its own benchmark (stacked_benchmark: docs/results/stacked_digits.md) and
    # the paired and cycle games', which translate images (their digit tasks, mnist_edges, mnist_sr and mnist_digits8,
    # have pages of their own).
    assert results.preset_names() == [name for name in options("experiment")
                                      if name not in ("stacked_benchmark", "pix2pix", "srgan", "cyclegan")]
    assert results.datasets_of("dcgan") == ["digits"]
    assert results.datasets_of("gan2014") == ["ring8", "digits"]  # the MLP preset also on the 2-D ring


def test_image_preset_sweeps_three_seeds_in_parallel_on_8x8_digits(results, tmp_path: Path) -> None:
    command = results.sweep_command("dcgan", "digits", 400, tmp_path / "dcgan_digits")
    assert command[1:5] == ["-m", "gan_runner.commands.run", "-m", "experiment=dcgan"]
    for override in ("seed=3,4,5", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "logger=none",
                     "dataset=digits", "dataset.resolution=8", "train.steps=400", "metrics.every=100",
                     "train.sample_every=100", f"hydra.sweep.dir={tmp_path / 'dcgan_digits'}"):
        assert override in command
    # as typed: nothing of the preset's own (objective, optimiser, widths, batch, learning rates) is overridden
    assert not [o for o in command if o.startswith(("objective", "arch", "optimizer", "regulariser", "train.lr",
                                                    "train.batch", "train.n_critic", "z_dim"))]


def test_mlp_preset_sweeps_on_the_ring_without_a_resolution(results, tmp_path: Path) -> None:
    command = results.sweep_command("gan2014", "ring8", 1000, tmp_path / "gan2014_ring8")
    assert "experiment=gan2014" in command and "dataset=ring8" in command
    assert not [o for o in command if o.startswith("dataset.resolution")]
    assert {"seed=3,4,5", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "train.steps=1000"} <= set(command)


def test_a_finished_sweep_is_skipped(results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gan2014_ring8").mkdir()
    (tmp_path / "gan2014_ring8" / "summary.txt").write_text("3 jobs: 3 completed\n")
    assert results.sweeps_to_run(["gan2014", "dcgan"], tmp_path) == [("gan2014", "digits"), ("dcgan", "digits")]
    ran = []
    def run_sweep(preset: str, dataset: str, steps: int, folder: Path) -> float:
        ran.append((preset, dataset))
        return 0.0

    monkeypatch.setattr(results, "run_sweep", run_sweep)
    monkeypatch.setattr(results, "gan_reports", lambda out, presets: None)  # no runs to report on here
    monkeypatch.setattr(results, "section", lambda out, presets, page, pictures: "")
    results.main(["--presets", "gan2014", "--out", str(tmp_path), "--doc", ""])
    assert ran == [("gan2014", "digits")]
    ran.clear()
    results.main(["--presets", "gan2014", "--out", str(tmp_path), "--doc", "", "--table-only"])
    assert ran == []
