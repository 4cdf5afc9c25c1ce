"""The wheel a user installs holds the whole package: every module under gan_runner/ (packages are found, not listed:
a list once left out gan_runner/bench) and every config of conf/ as gan_runner.conf, where Hydra looks for it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_module_of_gan_runner_and_every_yaml_of_conf(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy (the top-level files and the two folders that ship): building writes
    source.mkdir()                # build/ and an egg-info next to the sources
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy(path, source / path.name)
    for folder in ("gan_runner", "conf"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, ("the wheel did not build; it needs setuptools >= 70.1 (the dev extra: pip install "
                                   f"-e '.[dev]'):\n{built.stderr[-3000:]}")
    (wheel,) = (tmp_path / "dist").glob("gan_runner-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "gan_runner").rglob("*.py")
               if "__pycache__" not in path.parts}
    configs = {"gan_runner/conf/" + path.relative_to(ROOT / "conf").as_posix()
               for path in [*(ROOT / "conf").rglob("*.yaml"), ROOT / "conf" / "__init__.py"]}
    assert "gan_runner/bench/step.py" in modules and "gan_runner/conf/hydra/launcher/slurm.yaml" in configs
    assert modules - shipped == set()
    assert configs - shipped == set()


def test_every_markdown_page_the_code_configs_and_tests_cite_is_in_the_project() -> None:
    """A comment that backs a number with a page must name one a reader has: config.yaml and the tests once cited a
    facts page (shared/guide/FACTS) that was never part of the project. A path counts from the repository's root or
    from the citing file's folder, a bare name wherever it lies; what runs write (OUT/..., outputs/...) is none."""
    import re

    pages = {path.name for path in ROOT.rglob("*.md") if not {".venv", "outputs", ".git"} & set(path.parts)}
    missing = []
    for folder in ("conf", "gan_runner", "tests", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".yaml") or "__pycache__" in path.parts:
                continue
            for cited in re.findall(r"[\w./-]*\w\.md\b", path.read_text()):
                if cited.startswith(("OUT/", "outputs/")):
                    continue
                if not ((ROOT / cited).is_file() or (path.parent / cited).is_file()
                        or ("/" not in cited and cited in pages)):
                    missing.append(f"{path.relative_to(ROOT)}: {cited}")
    assert missing == []
