"""`gan-dashboard`: the W&B workspace of a study, built from synthetic sweep directories written as gan-run writes
them (summary.json's study block, .hydra/config.yaml, metrics.jsonl); W&B is never reached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gan_runner.commands import dashboard

STUDY = "2026-11-26_11-30-41"
METRICS = ["toy/high_quality", "toy/modes", "toy/modes_then_quality"]
LOSSES = ["d/fake", "d/real", "loss/d", "loss/g", "reg/gp"]
TRAINING = ["grad_norm/d", "grad_norm/g", "lr/d", "lr/g", "speed/steps_per_s"]


def write_run(sweep: Path, number: int, objective: str, seed: int, *, study: bool = True,
              logger: str = "wandb") -> Path:
    """One job's directory as the contract describes it."""
    run_name = f"objective={objective},seed={seed}"
    run_dir = sweep / f"{number}_{run_name}"
    (run_dir / ".hydra").mkdir(parents=True)
    logger_yaml = "logger:\n  project: gan-study\n  entity: my-team\n" if logger == "wandb" else ""
    (run_dir / ".hydra" / "config.yaml").write_text(f"seed: {seed}\n{logger_yaml}")
    rows = []
    for step in (100, 200):
        row = {"step": step, "images_seen": step * 64, "loss/d": 1.2, "loss/g": 0.7, "reg/gp": 0.1,
               "d/real": 0.6, "d/fake": 0.4, "lr/g": 2e-4, "lr/d": 2e-4, "grad_norm/g": 1.0, "grad_norm/d": 2.0,
               "speed/steps_per_s": 50.0}
        if step == 200:  # metrics only in the evaluation rows
            row.update({"toy/modes": 7.0 + seed, "toy/high_quality": 0.8, "toy/modes_then_quality": 7.8 + seed})
        rows.append(json.dumps(row))
    (run_dir / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    summary: dict[str, Any] = {
        "status": "completed", "step": 200,
        "best": {"key": "toy/modes_then_quality", "value": 7.8 + seed, "step": 200},
        "metrics": {"toy/modes": 7.0 + seed, "toy/high_quality": 0.8, "toy/modes_then_quality": 7.8 + seed},
        "wandb": {"id": f"run{number}", "mode": "offline", "dir": str(run_dir / "wandb")} if logger else None,
    }
    if study:
        summary["study"] = {
            "name": STUDY, "group": f"{STUDY}/objective={objective}", "run_name": run_name,
            "varied": ["objective", "seed"],
            "choices": {"arch": "mlp", "dataset": "ring8", "objective": objective, "regulariser": "gp",
                        "metrics": "toy", "experiment": "none"},
        }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Two configurations (hinge, wgan) x two seeds."""
    sweep_dir = tmp_path / "multirun" / "2026-11-26" / "11-30-41"
    for number, (objective, seed) in enumerate([("hinge", 0), ("hinge", 1), ("wgan", 0), ("wgan", 1)]):
        write_run(sweep_dir, number, objective, seed)
    return sweep_dir


def build(sweep_dir: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "view.json"
    dashboard.main([str(sweep_dir), f"out={out}", *args])
    return json.loads(out.read_text())


def sections(view: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {s["name"]: s["panels"] for s in view["spec"]["section"]["panelBankConfig"]["sections"]}


def line_keys(panels: list[dict[str, Any]]) -> list[str]:
    return [key for p in panels if p["viewType"] == "Run History Line Plot" for key in p["config"]["metrics"]]


def test_a_line_per_key_against_images_seen_grouped_by_run_group(sweep: Path, tmp_path: Path) -> None:
    found = sections(build(sweep, tmp_path))
    assert list(found) == ["Metrics", "Losses", "Training", "Samples", "Runs"]
    assert line_keys(found["Metrics"]) == METRICS
    assert line_keys(found["Losses"]) == LOSSES
    assert line_keys(found["Training"]) == TRAINING
    for panel in found["Metrics"] + found["Losses"] + found["Training"]:
        config = panel["config"]
        assert config["xAxis"] == "images_seen"
        assert (config["groupBy"], config["groupAgg"], config["groupArea"]) == ("group", "mean", "minmax")
        assert config["aggregate"] is True


def test_samples_side_by_side_and_a_runs_table(sweep: Path, tmp_path: Path) -> None:
    view = build(sweep, tmp_path)
    found = sections(view)
    media = {key: p["config"] for p in found["Samples"] if p["viewType"] == "Media Browser"
             for key in p["config"]["mediaKeys"]}
    assert set(media) == {"samples", "final_samples"}
    assert media["samples"]["gridSettings"] == {"xAxis": "run", "yAxis": "step"}
    assert media["final_samples"]["gridSettings"]["xAxis"] == "run"
    kinds = [p["viewType"] for p in found["Runs"]]
    assert "Run Comparer" in kinds
    bars = [p["config"] for p in found["Runs"] if p["viewType"] == "Bar Chart"]
    assert bars and bars[0]["metrics"] == ["best/value"] and bars[0]["groupBy"] == "group"
    (runset,) = view["spec"]["section"]["runSets"]
    assert runset["runFeed"]["columnOrder"] == [
        "run:displayName", "run:state", "summary:status", "config:choice/objective.value", "config:seed.value",
        "summary:toy/modes_then_quality", "summary:best/value", "summary:best/step"]


def test_runs_filtered_to_the_study_and_grouped(sweep: Path, tmp_path: Path) -> None:
    view = build(sweep, tmp_path)
    (runset,) = view["spec"]["section"]["runSets"]
    filters = {(f["key"]["section"], f["key"]["name"]): (f["op"], f["value"]) for f in runset["filters"]["filters"]}
    assert filters[("config", "study/name.value")] == ("=", STUDY)
    assert filters[("run", "jobType")] == ("=", "train")
    assert runset["grouping"] == [{"section": "run", "name": "group"}]
    assert view["spec"]["section"]["settings"]["xAxis"] == "images_seen"
    assert (view["entity"], view["project"], view["displayName"]) == ("my-team", "gan-study", f"Study {STUDY}")


def test_the_file_is_a_view_wandb_workspaces_can_load(sweep: Path, tmp_path: Path) -> None:
    """So that the written view could be uploaded as it is (Workspace._from_model(...).save())."""
    import wandb_workspaces.workspaces as ws
    from wandb_workspaces.workspaces import internal

    workspace = ws.Workspace._from_model(internal.View.model_validate(build(sweep, tmp_path)))
    assert [s.name for s in workspace.sections] == ["Metrics", "Losses", "Training", "Samples", "Runs"]
    assert workspace.runset_settings.groupby[0].name == "Group"


def test_command_line_settings_win(sweep: Path, tmp_path: Path) -> None:
    view = build(sweep, tmp_path, "project=other", "entity=me", "name=Hinge vs WGAN")
    assert (view["entity"], view["project"], view["displayName"]) == ("me", "other", "Hinge vs WGAN")


def test_without_credentials_the_view_goes_to_the_sweep_directory(
        sweep: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from gan_runner.loggers import wandb_logger

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb_logger, "has_credentials", lambda: False)
    monkeypatch.setattr(dashboard, "save_online", lambda workspace: pytest.fail("saved without credentials"))
    dashboard.main([str(sweep)])
    assert json.loads((sweep / "wandb-dashboard.json").read_text())["project"] == "gan-study"
    out = capsys.readouterr().out
    assert "no W&B credentials" in out and "wandb sync" in out


def test_online_it_saves_and_prints_the_url(sweep: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    from gan_runner.loggers import wandb_logger

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb_logger, "has_credentials", lambda: True)
    monkeypatch.setattr(wandb_logger, "server_reachable", lambda: True)
    saved = []
    monkeypatch.setattr(dashboard, "save_online", lambda workspace: saved.append(workspace) or "https://w.example/v")
    dashboard.main([str(sweep)])
    assert saved[0].entity == "my-team" and saved[0].name == f"Study {STUDY}"
    assert "https://w.example/v" in capsys.readouterr().out
    assert not (sweep / "wandb-dashboard.json").exists()


def test_an_unreachable_server_writes_the_view(sweep: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    from gan_runner.loggers import wandb_logger

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb_logger, "has_credentials", lambda: True)
    monkeypatch.setattr(wandb_logger, "server_reachable", lambda: False)
    dashboard.main([str(sweep)])
    assert (sweep / "wandb-dashboard.json").is_file()
    assert "cannot be reached" in capsys.readouterr().out


def test_a_failed_job_is_skipped_and_a_running_one_adds_its_keys(sweep: Path, tmp_path: Path) -> None:
    failed = sweep / "4_objective=bad,seed=0"
    (failed / ".hydra").mkdir(parents=True)
    (failed / "summary.json").write_text(json.dumps({"status": "error", "error": "no such objective"}))
    running = sweep / "5_objective=hinge,seed=2"
    (running / ".hydra").mkdir(parents=True)
    (running / "metrics.jsonl").write_text(json.dumps({"step": 100, "images_seen": 6400, "fid": 30.0}) + "\n")
    view = build(sweep, tmp_path)
    assert "fid" in line_keys(sections(view)["Metrics"])  # its curves are drawn as it trains


def expect_user_error(args: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        dashboard.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-dashboard: error: ") and "Fix:" in err and err.count("\n") == 1
    return err


def test_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "No runs found" in expect_user_error([str(tmp_path)], capsys)


def test_runs_without_a_study_block(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_run(tmp_path, 0, "hinge", 0, study=False)
    assert "no study block" in expect_user_error([str(tmp_path)], capsys)
    write_run(tmp_path, 1, "hinge", 1)
    assert "older gan-run" in expect_user_error([str(tmp_path)], capsys)


def test_a_lone_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = write_run(tmp_path, 0, "hinge", 0)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["study"]["name"] = None
    (run_dir / "summary.json").write_text(json.dumps(summary))
    assert "lone run" in expect_user_error([str(tmp_path)], capsys)
    assert "single run" in expect_user_error([str(run_dir)], capsys)


def test_runs_not_logged_to_wandb(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_run(tmp_path, 0, "hinge", 0, logger="")
    assert "logger=wandb" in expect_user_error([str(tmp_path)], capsys)


def test_missing_sweep_dir(capsys: pytest.CaptureFixture) -> None:
    assert "SWEEP_DIR is missing" in expect_user_error(["project=p"], capsys)
