"""Helpers of the scripts that write docs/ pages: each rewrites its own section of a page and leaves the rest."""

from __future__ import annotations

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
