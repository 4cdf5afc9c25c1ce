"""gan-run (commands/run.py) as a user runs it, a subprocess from another working directory: the run directory
and the W&B run it leaves, a sweep's runs and groups, bad input in one paragraph (no traceback, nothing left
on disk), a user's own component, the configs shipped in a wheel."""

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
from PIL import Image

from gan_runner.engine.loop import train
from gan_runner.errors import UserError
from tests.conftest import REPO, RING, SHRINK, SMALL_RUN, TINY, make_config, run, wandb_records


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


def test_a_sweep_with_a_failed_job_runs_the_others_and_exits_1_naming_it(tmp_path: Path) -> None:
    """Job 0 is refused (bad input), job 1 diverges (a result, not a failure), job 2 completes: the sweep runs all
    three, names the failed one with its overrides and reason, and exits 1."""
    result = run("gan-run", "-m", *RING, "objective=wgan", "regulariser=none", "train.steps=3",
                 "train.lr_d=-1,1e30,1e-3", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    lines = (tmp_path / "sweep" / "summary.txt").read_text().splitlines()
    assert lines[0].startswith("0_train.lr_d=-1: failed: train.lr_d must be a positive number")
    assert lines[1].startswith("1_") and "diverged at step" in lines[1]
    assert lines[2].startswith("2_") and "completed at step 3" in lines[2]
    failed = output[output.index("1 of 3 jobs failed"):]
    assert lines[0] in failed and lines[1] not in failed
    assert "gan-run: error: 1 of 3 jobs of the sweep failed" in result.stderr and "Traceback" not in output


def test_a_second_run_on_a_directory_in_use_is_refused_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    """A requeued job and a manual restart on one directory: the second is refused (exit 2) naming the first's
    process, and touches nothing there; once the first is killed (-9: no clean-up) the directory is free, and the
    run continues from its checkpoint with every step once in metrics.jsonl."""
    import signal
    import time

    from gan_runner.run_directory import Checkpoint
    from tests.conftest import BIN

    run_dir = tmp_path / "run"
    args = [*RING, "train.log_every=10", "train.checkpoint_every=20", "resume=auto", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    first = subprocess.Popen([str(BIN / "gan-run"), *args, "train.steps=1000000"], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run_dir / "checkpoints" / "last.pt").is_file() and time.time() < deadline:
            time.sleep(0.1)
        hydra_files = {p: p.read_bytes() for p in (run_dir / ".hydra").iterdir()}
        second = run("gan-run", *args, "train.steps=50", cwd=tmp_path, check=False)
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"is in use by another run (process {first.pid} on " in second.stderr
        assert "Traceback" not in second.stderr and first.poll() is None
        assert {p: p.read_bytes() for p in (run_dir / ".hydra").iterdir()} == hydra_files
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    step = Checkpoint.load(run_dir / "checkpoints" / "last.pt").step
    run("gan-run", *args, f"train.steps={step + 15}", cwd=tmp_path)
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == step + 15


def test_a_sweep_job_whose_directory_another_run_holds_is_refused_and_writes_nothing_there(tmp_path: Path) -> None:
    """Each job locks its own folder: job 0's is held (here by the test process, through the same lock), so job 0 is
    refused without writing its summary there, job 1 trains (and diverges: with study.diverged_fails=true, a failure
    too), and the sweep exits 1 naming both, job 0 with the holder."""
    from gan_runner.run_directory import hold, release

    held = tmp_path / "sweep" / "0_seed=0"
    hold(held)
    try:
        result = run("gan-run", "-m", *RING, "objective=wgan", "regulariser=none", "train.lr_d=1e30", "train.steps=2",
                     "study.diverged_fails=true", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path,
                     check=False)
    finally:
        release(held)
    assert result.returncode == 1, result.stderr[-3000:]
    refused, diverged = (tmp_path / "sweep" / "summary.txt").read_text().splitlines()
    assert refused.startswith(f"0_seed=0: failed: its directory is in use by another run (process {os.getpid()} on ")
    assert diverged.startswith("1_seed=1: diverged at step 2")
    assert "2 of 2 jobs failed (study.diverged_fails=true counts a diverged job as failed)" in result.stdout
    assert not (held / "summary.json").exists() and not (held / "metrics.jsonl").exists()


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
    options = ", ".join(sorted(path.stem for path in (REPO / "conf" / "arch").glob("*.yaml")))
    assert result.returncode == 2 and "arch=resnet9000 is not an option of the arch group: did you mean resnet? its " \
        f"options are {options}." in result.stderr and "stylegan2" in options
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


def test_a_sweep_goes_on_after_a_divergence_and_says_how_each_job_ended(tmp_path: Path) -> None:
    result = run("gan-run", "-m", *RING, "objective=wgan", "regulariser=none", "train.steps=3",
                 "train.lr_d=1e30,1e-3", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    lines = (tmp_path / "sweep" / "summary.txt").read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("0_") and "diverged at step" in lines[0]
    assert lines[1].startswith("1_") and "completed at step 3" in lines[1]
    assert "completed at step 3" in result.stderr + result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train.stepz=5"], "train.stepz is not a key of the config: did you mean train.steps?"),
        (["+train.stepz=5"], "train.stepz is not a key of train: did you mean train.steps?"),
        (["train.steps=-3"], "train.steps must be a positive whole number"),
        (["train.steps=many"], "train.steps=many: Value 'many' of type 'str' could not be converted to Integer"),
        (["train.lr_d=fast"], "train.lr_d must be a positive number"),
        (["train.betas=0.5"], "train.betas must be Adam's two decay rates"),
        (["hydra.run.dir=/dev/null/run"], "/dev/null is a file, not a folder"),
        (["resume=nowhere"], "there is no checkpoint at"),
    ],
)
def test_bad_values_get_one_paragraph(tmp_path: Path, args: list[str], message: str) -> None:
    """... and a run that never took a step leaves nothing on disk (resume=nowhere: not even nowhere/)."""
    result = run("gan-run", *RING, *args, cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_dataset_folder_gets_one_paragraph(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    folder.chmod(0)
    try:
        result = run("gan-run", "dataset=image_folder", f"dataset.root={folder}", "logger=none", cwd=tmp_path,
                     check=False)
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_a_users_own_objective_plugs_in_from_their_folder(tmp_path: Path) -> None:
    (tmp_path / "conf" / "objective").mkdir(parents=True)
    (tmp_path / "my_losses.py").write_text(
        "import torch.nn.functional as F\n"
        "from gan_runner.objectives import Objective\n\n\n"
        "class SoftHinge(Objective):\n"
        "    def d_loss(self, real_scores, fake_scores):\n"
        "        return F.softplus(1 - real_scores).mean() + F.softplus(1 + fake_scores).mean()\n\n"
        "    def g_loss(self, fake_scores, real_scores=None):\n"
        "        return -fake_scores.mean()\n")
    (tmp_path / "conf" / "objective" / "soft_hinge.yaml").write_text("_target_: my_losses.SoftHinge\n")
    gan_run = Path(sys.executable).with_name("gan-run")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(gan_run), f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "objective=soft_hinge", "dataset=ring8",
         *TINY, "train.steps=3", "logger=none", "metrics=none", "train.device=cpu",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    config = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()
    assert summary["status"] == "completed" and "my_losses.SoftHinge" in config
    assert REPO not in Path(tmp_path).parents  # the component lives outside the package


def test_a_target_that_cannot_be_imported_is_a_clear_error(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY)
    cfg.objective._target_ = "nowhere.Missing"
    with pytest.raises(UserError, match="objective: .*nowhere.Missing.*PYTHONPATH"):
        train(cfg, tmp_path)


def test_conditional_needs_a_labelled_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):  # images directly in the root: unlabelled
        Image.fromarray(np.full((8, 8), 30 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    cfg = make_config(*SHRINK, *TINY, "dataset=image_folder", f"dataset.root={folder}",
                      "dataset.resolution=8", "dataset.channels=1", "conditional=true")
    with pytest.raises(UserError, match="conditional=true needs class labels.*conditional=false"):
        train(cfg, tmp_path / "run")
