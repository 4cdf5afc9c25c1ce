"""gan-run under faults outside the command line's values, as a user meets them (a subprocess in a fresh working
directory): a config file that is not valid YAML, a SLURM launcher on a machine without SLURM, a key added with `+`
that nothing reads, and a disk that fills while the run writes. Each ends in one paragraph and a documented exit
status, never a traceback, and leaves nothing half-written behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from gan_runner.run_directory import Checkpoint
from tests.conftest import BIN, RING, run


def one_paragraph(result: subprocess.CompletedProcess) -> str:
    """The error paragraph of a refused command: one line starting with `gan-run: error:`, no traceback."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("gan-run: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


def left_on_disk(cwd: Path) -> list[str]:
    return sorted(p.name for p in cwd.iterdir() if not p.name.startswith("."))


# --- config files that are not valid YAML; SLURM without SLURM ---------------------------------------------


@pytest.mark.parametrize("text, line", [
    ("train:\n  steps: 3\n  betas: [0.5, 0.9\n", 4),  # an unclosed list: the parser notices at the end of the file
    ("train:\n\tsteps: 3\n", 2),                      # a tab
    ("train:\n  steps: 3\n lr_d: 0.1\n", 3),          # an indentation that fits no mapping
])
def test_a_broken_yaml_file_in_a_users_config_folder_names_its_file_and_line(tmp_path: Path, text: str,
                                                                              line: int) -> None:
    folder = tmp_path / "my_conf" / "experiment"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(text)
    work = tmp_path / "work"
    work.mkdir()
    result = run("gan-run", f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]", "experiment=mine", *RING,
                 cwd=work, check=False)
    assert result.returncode == 2
    paragraph = one_paragraph(result)
    assert f"{folder / 'mine.yaml'}, line {line}," in paragraph and "not valid YAML" in paragraph
    assert left_on_disk(work) == []


def test_slurm_without_slurm_is_refused_before_any_folder_is_made(tmp_path: Path) -> None:
    path = f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin"
    if shutil.which("sbatch", path=path):
        pytest.skip("SLURM is installed here")
    env = {**os.environ, "PATH": path, "HYDRA_FULL_ERROR": "0"}
    result = subprocess.run([str(BIN / "gan-run"), "-m", "hydra/launcher=slurm", *RING, "train.steps=2", "seed=0,1"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    paragraph = one_paragraph(result)
    assert "sbatch and srun are not on this machine's PATH" in paragraph and "hydra/launcher=parallel" in paragraph
    assert left_on_disk(tmp_path) == []


# --- a disk that fills while the run writes ----------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB disk of its own (tmpfs; mounting needs root, as in CI): a default checkpoint (~1.1 MB) fits once."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True,
                              text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_a_disk_that_fills_during_a_checkpoint_keeps_the_last_one_and_resume_finishes_the_run(
        tmp_path: Path, small_disk: Path) -> None:
    run_dir = small_disk / "run"
    result = run("gan-run", "logger=none", "metrics=none", "train.device=cpu", "train.steps=40",
                 "train.checkpoint_every=10", "train.log_every=10", "train.sample_every=10",
                 f"hydra.run.dir={run_dir}", cwd=tmp_path, check=False)
    assert result.returncode == 3, result.stderr[-3000:]
    paragraph = one_paragraph(result)
    assert f"The disk is full: writing {run_dir / 'checkpoints' / 'last.pt'} failed" in paragraph
    assert f"continue with gan-run resume={run_dir}" in paragraph
    assert list(run_dir.rglob("*.tmp")) == []  # the half-written checkpoint does not keep the disk full
    assert Checkpoint.load(run_dir / "checkpoints" / "last.pt").step == 10
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "error" and summary["error"] == paragraph.removeprefix("gan-run: error: ")
    assert [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [10, 20]

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True, timeout=30)  # room again
    run("gan-run", f"resume={run_dir}", cwd=tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["step"], summary["resumed_from_step"]) == ("completed", 40, 10)
    assert [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [10, 20,
                                                                                                           30, 40]
    assert Checkpoint.load(run_dir / "checkpoints" / "last.pt").step == 40


# --- a key added with + that nothing reads -----------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["+foo=1"], "foo is not a key of the config: the keys of the config are train, resume, seed,"),
    (["++foo=1"], "foo is not a key of the config:"),
    (["+train.stepz=3"], "train.stepz is not a key of train: did you mean train.steps?"),
    (["+trian.steps=3"], "trian.steps is not a key of the config: did you mean train.steps?"),
    (["+dataset.sizee=5"], "dataset.sizee is not an option of gan_runner.data.digits.Digits: its options are "
                           "resolution."),
    (["+dataset.resolutoin=5"], "did you mean dataset.resolution?"),
    (["+objective.foo=2"], "objective.foo is not an option of gan_runner.objectives.nonsaturating.NonSaturating: it "
                           "takes no options."),
    (["-m", "+study.nmae=x", "seed=0,1"], "study.nmae is not a key of study: did you mean study.name?"),
])
def test_a_key_added_with_a_plus_that_nothing_reads_is_refused_before_anything_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: list[str],
        message: str) -> None:
    from gan_runner.commands.run import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["gan-run", *args, "logger=none", "train.steps=1"])
    with pytest.raises(SystemExit) as exit_status:
        main()
    assert exit_status.value.code == 2
    (paragraph,) = capsys.readouterr().err.strip().splitlines()
    assert paragraph.startswith("gan-run: error: ") and message in paragraph
    assert left_on_disk(tmp_path) == []


@pytest.mark.parametrize("args", [["+search=ring8_lr", "--cfg", "job"], ["+experiment=dcgan", "--cfg", "job"],
                                  ["+hydra.job.env_set.SOME_SETTING=1", "--cfg", "hydra"]])
def test_a_plus_that_adds_a_group_or_a_hydra_setting_still_works(tmp_path: Path, args: list[str]) -> None:
    result = run("gan-run", *args, cwd=tmp_path)
    assert "error" not in result.stderr


def test_a_component_that_declares_free_form_options_takes_any_key() -> None:
    """A constructor with **kwargs reads keys it does not list: `+key=` under it is the user's to give."""
    from omegaconf import OmegaConf

    from gan_runner.commands.run import added_key_error

    cfg = OmegaConf.create({"mine": {"_target_": "argparse.Namespace"}, "yours": {"_target_": "fractions.Fraction"}})
    assert added_key_error("mine.anything", cfg) is None
    assert "yours.anything is not an option of fractions.Fraction" in added_key_error("yours.anything", cfg)


def test_an_option_a_component_does_not_take_in_a_users_yaml_is_one_paragraph() -> None:
    """Not from the command line but from a YAML file: building the component names the key (a constructor without
    parameters says only 'takes no arguments')."""
    from omegaconf import OmegaConf

    from gan_runner.engine.build import build
    from gan_runner.errors import UserError

    cfg = OmegaConf.create({"objective": {"_target_": "gan_runner.objectives.nonsaturating.NonSaturating", "foo": 1}})
    with pytest.raises(UserError, match="objective.foo is not an option of .*NonSaturating: it takes no options"):
        build(cfg, "objective")


def test_a_batch_larger_than_the_dataset_is_one_paragraph_not_a_traceback(tmp_path: Path) -> None:
    result = run("gan-run", "dataset=digits", "train.batch_size=5000", "logger=none", "metrics=none",
                 "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "train.batch_size=5000 is larger than the dataset, which holds 1797 training samples" in result.stderr
    assert "Fix: train.batch_size=1797 or less" in result.stderr
