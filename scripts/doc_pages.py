"""Helpers of the scripts that write docs/ pages: each runs its sweeps (resumable: a finished sweep is not run
again) and rewrites its own section of a page, leaving the rest."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def write_section(page: Path, name: str, text: str) -> None:
    """Put `text` between the markers `<!-- NAME: begin -->` and `<!-- NAME: end -->` of a Markdown page,
    keeping everything outside them: how the scripts that make docs/ pages rewrite their part of a page. A page
    without the markers (or no page) gets the section at its end."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    old = page.read_text() if page.exists() else ""
    if begin in old and end in old.split(begin, 1)[1]:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + block + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(new)


def sweep_done(folder: Path) -> bool:
    """A sweep has finished when gan-run wrote its summary.txt (at the end of a -m sweep)."""
    return (folder / "summary.txt").is_file()


def run_timed_sweep(command: list[str], folder: Path, env: dict[str, str] | None = None) -> float:
    """Run a sweep's command with its output in FOLDER.log (progress bars and errors, out of the way); returns its
    wall time, also kept in FOLDER/sweep_wall_time_s.txt."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(folder.parent / f"{folder.name}.log", "w") as log:
        done = subprocess.run(command, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    # A sweep with failed jobs exits 1 once it has run them all and named them in summary.txt: the study tabulates
    # the others (gan-report leaves failed runs out) and says which failed. Any other ending is an error.
    summary = folder / "summary.txt"
    if done.returncode != 0 and not (done.returncode == 1 and summary.is_file()):
        raise subprocess.CalledProcessError(done.returncode, command)
    if done.returncode != 0:
        failed = [line for line in summary.read_text().splitlines() if "failed" in line]
        print(f"{folder}: {len(failed)} job(s) failed, left out of the tables:\n  " + "\n  ".join(failed))
    seconds = time.perf_counter() - start
    (folder / "sweep_wall_time_s.txt").write_text(f"{seconds:.1f}\n")
    return seconds
