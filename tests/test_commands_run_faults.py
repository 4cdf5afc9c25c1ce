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
