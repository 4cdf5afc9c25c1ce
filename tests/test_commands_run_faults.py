"""gan-run under faults outside the command line's values, as a user meets them (a subprocess in a fresh working
directory): a config file that is not valid YAML, a SLURM launcher on a machine without SLURM, a key added with `+`
that nothing reads, and a disk that fills while the run writes. Each ends in one paragraph and a documented exit
status, never a traceback, and leaves nothing half-written behind."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

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
