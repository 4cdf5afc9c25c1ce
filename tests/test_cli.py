"""`gan-run` and `gan-sample` as a user runs them: in a subprocess, from another working directory."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, TINY

BIN = Path(sys.executable).parent
SMALL_RUN = ["train.steps=4", "train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2",
        "train.batch_size=16", "dataset.resolution=8", "arch.generator.width=8", "arch.discriminator.width=8",
        "metrics=none", "train.device=cpu"]


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


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny default run (DCGAN on digits) logged to an offline W&B run."""
    cwd = tmp_path_factory.mktemp("cwd")
    run("gan-run", *SMALL_RUN, "hydra.run.dir=run", cwd=cwd)
    return cwd / "run"


def test_run_directory_is_complete(trained_run: Path) -> None:
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 4 and summary["wall_time_s"] > 0
    assert summary["params"]["generator"] > 0 and summary["params"]["discriminator"] > 0
    assert summary["wandb"]["mode"] == "offline" and summary["wandb"]["id"]
    assert Path(summary["wandb"]["dir"]).resolve().parent == (trained_run / "wandb").resolve()
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert {"loss/d", "loss/g", "d/real", "d/fake", "d/margin", "health/diversity", "sigma/G"} <= set(rows[0])
    assert summary["health"] == "healthy" and summary["health_events"] == []
    assert sorted(p.name for p in (trained_run / "samples").iterdir()) == ["step_000002.png", "step_000004.png",
                                                                         "training.gif"]
    assert (trained_run / "checkpoints" / "last.pt").is_file() and (trained_run / "loss_curves.png").is_file()
    assert (trained_run / ".hydra" / "config.yaml").is_file()


def test_wandb_run_holds_losses_images_and_config(trained_run: Path) -> None:
    records = wandb_records(trained_run)
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [h["_step"] for h in history if "loss/d" in h] == [1, 2, 3, 4]
    assert all({"loss/g", "d/real", "d/fake"} <= set(h) for h in history if "loss/d" in h)
    assert [h["_step"] for h in history if h.get("samples._type") == "image-file"] == [2, 4]
    (run_record,) = [r["run"] for r in records if r["type"] == "run"]
    config = run_record["config"]["update"]
    assert config["arch"]["generator"]["_target_"] == "gan_runner.arch.dcgan.Generator"
    assert config["train"]["steps"] == 4  # logged resolved, overrides included
    summaries = [r["summary"]["update"] for r in records if r["type"] == "summary"]
    assert [s["health"] for s in summaries if "health" in s][-1] == "healthy"  # the run's verdict


def test_gan_sample_writes_arrays_and_grids(trained_run: Path, tmp_path: Path) -> None:
    run("gan-sample", f"run_dir={trained_run}", "n=10", f"out={tmp_path / 'x.npz'}", cwd=tmp_path)
    x = np.load(tmp_path / "x.npz")["x"]
    assert x.shape == (10, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    run("gan-sample", f"run_dir={trained_run}", "n=16", f"out={tmp_path / 'grid.png'}", cwd=tmp_path)
    assert (tmp_path / "grid.png").stat().st_size > 0
    bad = run("gan-sample", f"run_dir={tmp_path / 'nothing'}", "n=1", "out=a.npz", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "There is no checkpoint at" in bad.stderr and "Traceback" not in bad.stderr


def test_sweep_gives_a_wandb_run_per_job_and_a_group_per_configuration(tmp_path: Path) -> None:
    """Seeds of one configuration share a W&B group (W&B then draws their mean and spread); the configurations
    differ; runs are named by what varies and carry the chosen options as plain config keys and tags."""
    run("gan-run", "-m", "objective=hinge,nonsaturating", "seed=0,1", *SMALL_RUN, "train.steps=2",
        "train.sample_every=100", "metrics=digits", "metrics.n_samples=200", "logger.log_checkpoints=true",
        "hydra.sweep.dir=studies/hinge_vs_ns", cwd=tmp_path)
    jobs = sorted(p for p in (tmp_path / "studies" / "hinge_vs_ns").iterdir() if p.is_dir())
    assert len(jobs) == 4
    runs, histories, metrics, artifacts = [], [], [], []
    for job in jobs:
        assert json.loads((job / "summary.json").read_text())["status"] == "completed"
        records = wandb_records(job)
        runs += [r["run"] for r in records if r["type"] == "run"]
        histories.append([r["history"]["item"] for r in records if r["type"] == "history"])
        metrics.append([r["metric"] for r in records if r["type"] == "metric"])
        artifacts.append([r["artifact"] for r in records if r["type"] == "artifact"])
    assert len(runs) == 4 and len({r["run_id"] for r in runs}) == 4
    groups = {}
    for r in runs:
        groups.setdefault(r["run_group"], []).append(r["display_name"])
    assert groups == {"studies_hinge_vs_ns/objective=hinge": ["objective=hinge,seed=0", "objective=hinge,seed=1"],
                      "studies_hinge_vs_ns/objective=nonsaturating": ["objective=nonsaturating,seed=0",
                                                                      "objective=nonsaturating,seed=1"]}
    for r in runs:
        config = r["config"]["update"]
        objective = r["display_name"].split(",")[0].split("=")[1]
        assert config["choice/objective"] == objective and config["choice/arch"] == "dcgan"
        assert config["choice/regulariser"] == "none" and config["choice/experiment"] == "none"
        assert config["study/name"] == "studies_hinge_vs_ns" and config["study/varied"] == "objective,seed"
        assert r["job_type"] == "train" and f"objective={objective}" in r["tags"] and "dataset=digits" in r["tags"]
    for history, defined, logged in zip(histories, metrics, artifacts):
        rows = [h for h in history if "loss/d" in h]
        assert [h["images_seen"] for h in rows] == [16, 32]  # batch 16, one D step per step
        assert all({"lr/g", "lr/d", "grad_norm/g", "grad_norm/d", "speed/steps_per_s"} <= set(h) for h in rows)
        assert all(h["grad_norm/d"] > 0 and h["lr/g"] == 2e-4 for h in rows)
        assert any(h.get("final_samples._type") == "image-file" for h in history)
        assert {"glob_name": "*", "step_metric": "images_seen"}.items() <= {
            k: v for m in defined if m.get("glob_name") == "*" for k, v in m.items()}.items()
        (artifact,) = logged  # best.pt, with logger.log_checkpoints=true
        assert artifact["type"] == "model" and "best" in artifact["aliases"]

    # The study's dashboard, written offline from these runs: filtered to the study, grouped by configuration.
    sweep = tmp_path / "studies" / "hinge_vs_ns"
    run("gan-dashboard", str(sweep), "out=view.json", cwd=tmp_path)
    view = json.loads((tmp_path / "view.json").read_text())
    (runset,) = view["spec"]["section"]["runSets"]
    filters = {(f["key"]["section"], f["key"]["name"]): f["value"] for f in runset["filters"]["filters"]}
    assert filters[("config", "study/name.value")] == "studies_hinge_vs_ns"
    assert runset["grouping"] == [{"section": "run", "name": "group"}]
    plotted = {key for section in view["spec"]["section"]["panelBankConfig"]["sections"]
               for panel in section["panels"] for key in panel["config"].get("metrics", [])}
    assert {"digits/frechet", "loss/d", "grad_norm/g", "lr/d"} <= plotted
    # ... and its offline report: a group per objective, two completed seeds each.
    run("gan-report", str(sweep), "out=report", cwd=tmp_path)
    table = (tmp_path / "report" / "table.csv").read_text().splitlines()
    assert len(table) == 3 and all(",2,2,0,0,0," in line for line in table[1:])


def test_logger_none_never_imports_wandb(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from tests.conftest import make_config, SHRINK, TINY;"
        "from gan_runner.engine.loop import train;"
        f"train(make_config(*SHRINK, 'dataset=ring8', *TINY), Path({str(tmp_path)!r}));"
        "assert 'wandb' not in sys.modules, 'wandb was imported'"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train.batch_size=0"], "train.batch_size must be a positive whole number"),
        (["dataset=image_folder", "dataset.root=/no/such/folder"], "/no/such/folder does not exist"),
        (["dataset=image_folder", "dataset.root=."], "holds no images"),
        (["dataset=mnist", "dataset.root=nowhere"], "dataset.download=true"),
        (["dataset=ring8", "arch=dcgan"], "use arch=mlp"),
        (["dataset.resolution=12"], "power of two"),
        (["metrics=toy"], "metrics=toy counts the modes of a 2-D Gaussian mixture"),
        (["train.ema=1.5"], "train.ema must be the decay"),
        (["dataset=image_folder"], "dataset.root must be given"),
    ],
)
def test_bad_input_gets_one_paragraph_not_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    """... exit 2, and no run directory left behind by a run that never took a step."""
    result = run("gan-run", "logger=none", *args, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "outputs").exists()


def test_an_unknown_option_of_a_group_gets_one_paragraph_with_the_closest(tmp_path: Path) -> None:
    result = run("gan-run", "arch=resnet9000", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "arch=resnet9000 is not an option of the arch group: did you mean resnet? its " \
        "options are biggan, dcgan, mlp, resnet, sagan" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and not (tmp_path / "outputs").exists()


def test_fp16_on_the_cpu_trains_and_says_it_is_slow(tmp_path: Path) -> None:
    result = run("gan-run", "logger=none", "metrics=none", "dataset=ring8", *TINY, "train.steps=2",
                 "train.precision=fp16", "train.device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert any("train.precision=fp16 on the CPU" in warning for warning in summary["warnings"])
    assert "train.precision=fp16 on the CPU" in (tmp_path / "run" / "gan-run.log").read_text() + result.stderr


def test_configs_are_found_from_any_directory(tmp_path: Path) -> None:
    result = run("gan-run", "--info", "searchpath", cwd=tmp_path)
    assert "pkg://gan_runner.conf" in result.stdout


def test_a_wheel_ships_the_configs(tmp_path: Path) -> None:
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(tmp_path),
                    str(REPO)], check=True, timeout=300, capture_output=True)
    (wheel,) = tmp_path.glob("gan_runner-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for yaml in (REPO / "conf").rglob("*.yaml"):
        assert f"gan_runner/conf/{yaml.relative_to(REPO / 'conf').as_posix()}" in names
    # Installed alone (no editable path), the configs compose from an unrelated working directory.
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    script = ("from hydra import compose, initialize_config_module\n"
              "with initialize_config_module('gan_runner.conf', version_base='1.3'):\n"
              "    cfg = compose('config', overrides=['dataset=ring8'])\n"
              "import gan_runner; assert 'site' in gan_runner.__file__, gan_runner.__file__\n"
              "print(cfg.arch.generator._target_)")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r})\n"
                          + script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "gan_runner.arch.mlp.Generator"
