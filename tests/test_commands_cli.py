"""Every command as a user types it, a subprocess each: `--help` (every option, an example, exit 0, no torch
import) and `--version` of all five; `gan-run experiment=NAME` and its help's list of presets; `debug=fast`; the
shell completion; the story gan-run.log tells (start line, W&B mode and why, the resume command after Ctrl-C); gan-eval re-scoring a run
with its own metric or another; gan-sample's folder of PNG files as pytorch-fid reads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import BIN, RING, SMALL_RUN, run

COMMANDS = {"gan-run": "run", "gan-sample": "sample", "gan-eval": "evaluate", "gan-report": "report",
            "gan-dashboard": "dashboard", "gan-prepare": "prepare"}


def imports_torch_for(command: str, *args: str) -> tuple[str, bool]:
    """The command's output for ARGS and whether torch was imported, from a process that runs its main()."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('\\nTORCH IMPORTED:', 'torch' in sys.modules))\n"
            f"sys.argv = [{command!r}, *{list(args)!r}]\n"
            f"from gan_runner.commands.{COMMANDS[command]} import main\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-2000:]
    return out, "TORCH IMPORTED: True" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_every_option_with_an_example_without_torch(command: str) -> None:
    out, torch_imported = imports_torch_for(command, "--help")
    assert not torch_imported
    assert command in out and "usage" in out.lower() and "--version" in out
    assert "example" in out.lower()


@pytest.mark.parametrize("command", COMMANDS)
def test_version_names_gan_runner_torch_and_hydra(command: str, tmp_path: Path) -> None:
    out = run(command, "--version", cwd=tmp_path).stdout
    assert out.startswith("gan-runner ") and "torch " in out and "hydra-core " in out


def test_gan_sample_lists_its_options(tmp_path: Path) -> None:
    out = run("gan-sample", "--help", cwd=tmp_path).stdout
    for option in ("run=", "n=", "out=", "seed=", "checkpoint=", "y=", "device="):
        assert option in out


def test_gan_run_help_lists_the_presets_and_no_test_only_architecture(tmp_path: Path) -> None:
    out = run("gan-run", "--help", cwd=tmp_path).stdout
    assert "experiment: " in out and "wgan_gp" in out and "biggan_lite" in out
    assert "tiny" not in out and "debug: fast" in out


def test_shell_completion_installs_and_completes_groups_options_and_keys(tmp_path: Path) -> None:
    """Hydra's bash completion through gan-run's own main() (which rewrites +experiment= and handles --help)."""
    assert "hydra_bash_completion" in run("gan-run", "-sc", "install=bash", cwd=tmp_path).stdout
    env = {**os.environ, "COMP_LINE": "gan-run objective=hi"}
    query = [str(BIN / "gan-run"), "-sc", "query=bash"]
    assert subprocess.run(query, env=env, capture_output=True, text=True, cwd=tmp_path).stdout.split() == [
        "objective=hinge"]
    env["COMP_LINE"] = "gan-run experiment=wgan"
    completed = subprocess.run(query, env=env, capture_output=True, text=True, cwd=tmp_path).stdout.split()
    assert set(completed) == {"experiment=wgan", "experiment=wgan_gp"}
    env["COMP_LINE"] = "gan-run train.ste"
    assert subprocess.run(query, env=env, capture_output=True, text=True, cwd=tmp_path).stdout.split() == [
        "train.steps="]


@pytest.mark.parametrize("spelling", ["experiment=wgan_gp", "+experiment=wgan_gp"])
def test_a_preset_is_chosen_with_or_without_the_plus(spelling: str, tmp_path: Path) -> None:
    out = run("gan-run", spelling, "--cfg", "job", cwd=tmp_path).stdout
    assert "gan_runner.regularisers.gradient_penalty" in out and "n_critic: 5" in out


def test_debug_fast_smoke_tests_any_preset_in_seconds(tmp_path: Path) -> None:
    run("gan-run", "experiment=sngan", "debug=fast", "hydra.run.dir=run", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 4 and summary["metrics"] == {}
    assert summary["params"]["generator"] < 20_000  # tiny networks, whatever the preset's widths
    assert not (tmp_path / "run" / "wandb").exists()


def test_the_log_tells_the_story_of_a_run(tmp_path: Path) -> None:
    run("gan-run", *SMALL_RUN, "logger=none", "hydra.run.dir=run", cwd=tmp_path)
    log = (tmp_path / "run" / "gan-run.log").read_text()
    first = log.splitlines()[0]
    for piece in ("gan-runner ", "torch ", "started on cpu", "CPU thread", "precision fp32", "CUDA graph",
                  "compile off", "config ", f"run directory {tmp_path / 'run'}"):
        assert piece in first, (piece, first)
    assert "W&B: off (logger=none)" in log and "completed at step 4" in log


def test_without_credentials_the_log_says_why_wandb_is_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")}
    env.update({"WANDB_CONFIG_DIR": str(tmp_path / "cfg"), "NETRC": os.devnull, "WANDB_SILENT": "true",
                "HOME": str(tmp_path)})
    done = subprocess.run([str(BIN / "gan-run"), *SMALL_RUN, "hydra.run.dir=run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    log = (tmp_path / "run" / "gan-run.log").read_text()
    assert "W&B: offline (no W&B credentials" in log and "wandb login" in log


def test_ctrl_c_leaves_a_checkpoint_and_the_exact_resume_command(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    stopped = tmp_path / "stopped"
    job = subprocess.Popen([str(BIN / "gan-run"), *RING, "train.steps=100000", "train.log_every=5",
                            f"hydra.run.dir={stopped}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (stopped / "metrics.jsonl").is_file() and time.time() < deadline:
        time.sleep(0.1)
    job.send_signal(signal.SIGINT)
    console, _ = job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGINT, console[-2000:]
    hint = f"Continue with: gan-run resume={stopped}"
    assert hint in (stopped / "gan-run.log").read_text() and hint in console
    assert (stopped / "checkpoints" / "last.pt").is_file()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny default run whose own metric is digits (200 judged samples)."""
    cwd = tmp_path_factory.mktemp("digits")
    overrides = [o for o in SMALL_RUN if not o.startswith("metrics=")]
    run("gan-run", *overrides, "metrics.n_samples=200", "logger=none", "hydra.run.dir=run", cwd=cwd)
    return cwd / "run"


def test_gan_eval_rescores_a_run_with_its_own_metric(digits_run: Path) -> None:
    done = run("gan-eval", f"run={digits_run}", "checkpoint=last", f"out={digits_run / 'eval.json'}",
               cwd=digits_run)
    scores = json.loads((digits_run / "eval.json").read_text())
    summary = json.loads((digits_run / "summary.json").read_text())
    assert "digits/frechet" in done.stdout and set(summary["metrics"]) <= set(scores)
    assert scores["protocol"]["step"] == 4 and scores["protocol"]["checkpoint"].endswith("last.pt")
    # The same weights, noise and judge as the run's own evaluation at its end: the same numbers.
    assert scores["digits/frechet"] == pytest.approx(summary["metrics"]["digits/frechet"], rel=1e-6)


def test_gan_eval_scores_a_run_with_another_metric(tmp_path: Path) -> None:
    run("gan-run", *RING, "train.steps=3", "hydra.run.dir=ring", cwd=tmp_path)  # metrics=none: no metric of its own
    refused = run("gan-eval", "run=ring", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "no metric of its own" in refused.stderr and "Traceback" not in refused.stderr
    done = run("gan-eval", "run=ring", "metrics=toy", "n=500", "out=toy.json", cwd=tmp_path)
    scores = json.loads((tmp_path / "toy.json").read_text())
    assert 0 <= scores["toy/modes"] <= 8 and "toy/modes" in done.stdout
    assert scores["protocol"]["metric"] == "gan_runner.metrics.toy.ToyModes"


def test_gan_sample_writes_a_folder_of_pngs_pytorch_fid_reads(digits_run: Path, tmp_path: Path) -> None:
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS, ImagePathDataset

    run("gan-sample", f"run={digits_run}", "n=12", f"out={tmp_path / 'fakes'}/", cwd=tmp_path)
    files = sorted((tmp_path / "fakes").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(12)]
    assert all(f.suffix[1:] in IMAGE_EXTENSIONS for f in files)
    image = np.asarray(Image.open(files[0]))
    assert image.shape == (8, 8) and image.dtype == np.uint8  # one channel, the run's side
    assert ImagePathDataset(files)[0].size == (8, 8)
