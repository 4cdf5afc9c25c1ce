"""gan-report on a real small sweep (the Hydra app, 2 objectives x 2 seeds on ring8) and on run directories
written here with known numbers (a diverged run, a failed one, a lone seed), checked against numpy and scipy."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from gan_runner.commands import report
from gan_runner.run_directory import find_runs
from gan_runner.study import compare
from tests.conftest import REPO

LR_D_FINALS = {0: 6.0, 1: 7.0, 2: 8.5}  # toy/modes of the three completed seeds of train.lr_d=0.003


def gan_report(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "gan_runner.commands.report", *args], check=False, capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real gan-run -m sweep: objective hinge and nonsaturating, seeds 0 and 1, 100 steps each."""
    folder = tmp_path_factory.mktemp("sweep")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    subprocess.run([sys.executable, "-m", "gan_runner.commands.run", "-m", "dataset=ring8", "objective=hinge,nonsaturating",
                    "seed=0,1", "train.steps=100", "train.log_every=25", "train.sample_every=50", "logger=none",
                    "train.device=cpu", f"hydra.sweep.dir={folder}"], check=True, capture_output=True, env=env,
                   timeout=300)
    return folder


def write_run(folder: Path, template: Path, lr_d: float, seed: int, summary: dict | None) -> None:
    """A run directory like gan-run's: the template run's .hydra with train.lr_d and the seed changed."""
    shutil.copytree(template / ".hydra", folder / ".hydra")
    config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    config["seed"], config["train"]["lr_d"] = seed, lr_d
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    overrides = ["dataset=ring8", f"train.lr_d={lr_d}", f"seed={seed}", "logger=none"]
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
        rows = [{"step": step, "loss/d": 1.0 + seed + step / 100, "images_seen": 1000 * step} for step in (50, 100)]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


VERDICTS = {2: "mode collapse from step 40; oscillation from step 60"}  # the other seeds: healthy


def completed(modes: float, seed: int) -> dict:
    return {"status": "completed", "step": 100, "wall_time_s": 10.0 + seed, "metrics": {"toy/modes": modes},
            "best": {"key": "toy/modes", "value": modes + 0.5, "step": 50}, "final_losses": {},
            "health": VERDICTS.get(seed, "healthy")}


@pytest.fixture(scope="module")
def study(sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Known numbers: train.lr_d=0.003 has three completed seeds, a diverged one (whose best of 100 and final
    of 50 must not be averaged in) and an error; train.lr_d=0.004 one completed seed and a crashed job."""
    folder = tmp_path_factory.mktemp("study")
    template = next(sweep.glob("0_*"))
    for seed, modes in LR_D_FINALS.items():
        write_run(folder / f"{seed}_a", template, 0.003, seed, completed(modes, seed))
    write_run(folder / "3_a", template, 0.003, 3, {
        "status": "diverged", "step": 40, "wall_time_s": 1.0, "metrics": {"toy/modes": 50.0},
        "best": {"key": "toy/modes", "value": 100.0, "step": 20}, "diverged": {"step": 40, "quantity": "loss/d",
                                                                                "value": "nan"},
        "health": "spectral blow-up from step 20"})
    write_run(folder / "4_a", template, 0.003, 4, {"status": "error", "error": "bad input"})
    write_run(folder / "5_b", template, 0.004, 0, completed(3.0, 0))
    write_run(folder / "6_b", template, 0.004, 1, None)  # crashed before writing summary.json
    return folder


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        return {row["group"]: row for row in csv.DictReader(handle)}


def t_interval(values: list[float]) -> tuple[float, float]:
    """mean and half-width of the 95 % interval, computed by scipy independently of gan_runner.commands.report."""
    if np.ptp(values) == 0:
        return float(values[0]), 0.0  # scipy's interval has no width to scale: nan
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    return float(np.mean(values)), (high - low) / 2


def test_groups_ignore_the_seed_and_separate_configurations(sweep: Path) -> None:
    groups = compare.group_runs(find_runs([sweep]))
    assert sorted(group.label for group in groups) == ["objective=hinge", "objective=nonsaturating"]
    for group in groups:
        assert sorted(run.config["seed"] for run in group.runs) == [0, 1]
        assert len({run.config["objective"]["_target_"] for run in group.runs}) == 1


def test_table_means_and_intervals_match_scipy_on_a_real_sweep(sweep: Path, tmp_path: Path) -> None:
    report.main([str(sweep), f"out={tmp_path}"])
    table = read_csv(tmp_path / "table.csv")
    assert set(table) == {"objective=hinge", "objective=nonsaturating"}
    for label, row in table.items():
        summaries = [json.loads((d / "summary.json").read_text()) for d in sweep.glob(f"*{label},*")]
        assert len(summaries) == 2 and row["runs"] == "2" and row["completed"] == "2"
        for key in summaries[0]["metrics"]:
            mean, half_width = t_interval([s["metrics"][key] for s in summaries])
            assert float(row[f"{key} final mean"]) == pytest.approx(mean, rel=1e-12)
            assert float(row[f"{key} final ci95"]) == pytest.approx(half_width, rel=1e-9, abs=1e-15)
        best_key = summaries[0]["best"]["key"]
        mean, half_width = t_interval([s["best"]["value"] for s in summaries])
        assert float(row[f"{best_key} best mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(row[f"{best_key} best ci95"]) == pytest.approx(half_width, rel=1e-9, abs=1e-15)
        assert float(row["wall_time_s mean"]) == pytest.approx(np.mean([s["wall_time_s"] for s in summaries]))
        assert row["health"] == "healthy 2"  # 100 steps of the ring8 defaults


def test_report_files_plots_and_samples_are_written(sweep: Path) -> None:
    result = gan_report(str(sweep))
    assert result.returncode == 0, result.stderr
    out = sweep / "report"  # the default
    for name in ("table.md", "table.csv", "report.md", "plots/loss_d.png", "plots/loss_g.png", "plots/toy_modes.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    text = (out / "report.md").read_text()
    assert f"`gan-report {sweep}`" in text and (out / "table.md").read_text().strip() in text
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert sum(link.startswith("samples/") for link in links) == 2  # one picture per group
    assert all((out / link).is_file() for link in links)


def test_a_run_directory_alone_is_one_group_labelled_by_its_overrides(sweep: Path, tmp_path: Path) -> None:
    job = next(sweep.glob("1_*"))  # its name holds `=`: a folder all the same, not an option
    result = gan_report(str(job), f"out={tmp_path}")
    assert result.returncode == 0, result.stderr
    row = read_csv(tmp_path / "table.csv")
    assert list(row) == ["dataset=ring8 objective=hinge train.steps=100"]  # no seed, log_every, logger, device
    assert "(n=1, no interval)" in (tmp_path / "table.md").read_text()


def test_a_diverged_run_is_counted_and_never_averaged_in(study: Path, tmp_path: Path) -> None:
    report.main([str(study), f"out={tmp_path}"])
    table = read_csv(tmp_path / "table.csv")
    assert set(table) == {"train.lr_d=0.003", "train.lr_d=0.004"}
    row = table["train.lr_d=0.003"]
    assert [row[k] for k in ("runs", "completed", "diverged", "interrupted", "failed")] == ["5", "3", "1", "0", "1"]
    mean, half_width = t_interval(list(LR_D_FINALS.values()))
    assert float(row["toy/modes final mean"]) == pytest.approx(mean) and row["toy/modes final n"] == "3"
    assert float(row["toy/modes final ci95"]) == pytest.approx(half_width)
    assert float(row["toy/modes best mean"]) == pytest.approx(mean + 0.5)  # not the diverged run's 100
    assert float(row["wall_time_s mean"]) == pytest.approx(11.0)
    markdown = (tmp_path / "table.md").read_text()
    assert "never averaged in" in markdown
    assert f"| `train.lr_d=0.003` | 5 | 3 | 1 | 0 | 1 | {mean:.4g} ± {half_width:.2g} |" in markdown


def test_one_completed_run_has_a_mean_and_no_interval_and_failures_are_listed(study: Path, tmp_path: Path) -> None:
    report.main([str(study), "metric=toy/modes", f"out={tmp_path}"])
    row = read_csv(tmp_path / "table.csv")["train.lr_d=0.004"]
    assert [row[k] for k in ("runs", "completed", "failed")] == ["2", "1", "1"]
    assert float(row["toy/modes final mean"]) == 3.0 and row["toy/modes final ci95"] == ""
    assert "| `train.lr_d=0.004` | 2 | 1 | 0 | 0 | 1 | 3 (n=1, no interval) |" in (tmp_path / "table.md").read_text()
    text = (tmp_path / "report.md").read_text()
    assert "6_b`: no summary.json" in text and "4_a`: bad input" in text


def test_curves_use_the_images_seen_column_and_average_seeds(study: Path) -> None:
    group = next(g for g in compare.group_runs(find_runs([study])) if g.label == "train.lr_d=0.003")
    images, mean, low, high = compare.curve(group.completed, "loss/d")
    assert images == [50_000, 100_000]
    assert mean == pytest.approx([2.5, 3.0]) and low == pytest.approx([1.5, 2.0]) and high == pytest.approx([3.5, 4.0])


def test_cli_errors_are_one_paragraph_and_exit_2(study: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = gan_report(str(empty))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"gan-report: error: No runs in {empty}") and "Fix:" in result.stderr
    result = gan_report(str(study), "metric=toy/nope", f"out={tmp_path / 'out'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "metric=toy/nope" in result.stderr and "toy/modes" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_health_column_counts_each_verdict_and_the_report_lists_the_problems(study: Path, tmp_path: Path) -> None:
    report.main([str(study), f"out={tmp_path}"])
    table = read_csv(tmp_path / "table.csv")
    # Every outcome's verdict is counted (the diverged run's blow-up too); a run with two problems under each.
    assert table["train.lr_d=0.003"]["health"] == "healthy 2, mode collapse 1, oscillation 1, spectral blow-up 1"
    assert table["train.lr_d=0.004"]["health"] == "healthy 1"  # the crashed job has no verdict
    assert (tmp_path / "table.md").read_text().splitlines()[0].endswith("| wall time (s) | health |")
    text = (tmp_path / "report.md").read_text()
    problems = text.split("## Health problems")[1].split("##")[0]
    assert "2_a`: mode collapse from step 40; oscillation from step 60" in problems
    assert "3_a`: spectral blow-up from step 20" in problems and "0_a" not in problems
