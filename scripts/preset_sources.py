"""The sources of the paper presets, read from their YAML: every value a preset of conf/experiment/ sets carries its
source in brackets in its comment (`lr_g: 1.0e-4  # [gan_64x64.py l.542] ...`), and every deliberate difference from
the paper or its code is a `# deviation: ...` line. This module turns both into the tables of
docs/results/presets.md, so the page cannot drift from the configs (tests/test_presets.py checks it is current and
that no preset value lacks its source)."""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass, field
from pathlib import Path

CONF = Path(str(importlib.resources.files("gan_runner.conf")))
OWN_RECIPES = ("cgan_digits", "stacked_benchmark")  # gan-runner's own recipes, no paper's: their values have no source to cite
SOURCE = re.compile(r"^\[(?P<source>[^\]]+)\]\s*(?P<note>.*)$")
OVERRIDE = re.compile(r"^-\s*override\s+/(?P<group>[\w@.]+):\s*(?P<value>.+)$")


@dataclass
class Value:
    key: str          # the dotted path, e.g. train.lr_g, or the config group for a defaults entry, e.g. arch
    value: str        # as typed in the YAML
    source: str       # what the brackets hold: "gan_64x64.py l.542", "paper section 5"; "" when none
    note: str         # the rest of the comment


@dataclass
class Preset:
    name: str
    title: str                                    # the first line of the file's opening comment
    values: list[Value] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)


def _split_comment(line: str) -> tuple[str, str]:
    """The YAML text and its comment. Values here hold no '#' inside quotes, so the first ' #' starts it."""
    if line.lstrip().startswith("#"):
        return "", line.lstrip()[1:].strip()
    text, _, comment = line.partition(" #")
    return text.rstrip(), comment.strip()


def read(path: Path) -> Preset:
    """Every value of one preset with its bracketed source, and its deviation lines, in file order."""
    preset = Preset(name=path.stem, title="")
    parents: list[tuple[int, str]] = []  # (indent, key) of the mappings the current line sits in
    opening = True
    for raw in path.read_text().splitlines():
        text, comment = _split_comment(raw)
        if not text:
            if comment.startswith("deviation:"):
                preset.deviations.append(comment.removeprefix("deviation:").strip())
            elif opening and comment and not comment.startswith("@package"):
                preset.title = preset.title or comment
            continue
        opening = False
        indent = len(text) - len(text.lstrip())
        stripped = text.strip()
        while parents and parents[-1][0] >= indent:
            parents.pop()
        source, note = "", comment
        match = SOURCE.match(comment)
        if match:
            source, note = match["source"], match["note"]
        override = OVERRIDE.match(stripped)
        if override:
            preset.values.append(Value(override["group"].replace("@", " at "), override["value"].strip(),
                                       source, note))
            continue
        key, _, value = stripped.partition(":")
        if key == "defaults":
            parents.append((indent, key))
            continue
        if not value.strip():
            parents.append((indent, key))
            continue
        path_of_key = ".".join([k for _, k in parents if k != "defaults"] + [key])
        preset.values.append(Value(path_of_key, value.strip(), source, note))
    return preset


def presets(conf: Path = CONF) -> list[Preset]:
    """The paper presets of conf/experiment/, gan-runner's own recipes left out."""
    return [read(path) for path in sorted((conf / "experiment").glob("*.yaml")) if path.stem not in OWN_RECIPES]


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else ""


def sources_table(all_presets: list[Preset]) -> str:
    """Markdown: one table row per value a preset sets (preset, key, value, source, what the source says)."""
    lines = ["| preset | key | value | source | what the source says |", "|---|---|---|---|---|"]
    for preset in all_presets:
        for value in preset.values:
            lines.append(f"| `{preset.name}` | `{value.key}` | `{_cell(value.value)}` | {_cell(value.source) or '—'} "
                         f"| {_cell(value.note)} |")
    return "\n".join(lines)


def deviations_list(all_presets: list[Preset]) -> str:
    """Markdown: each preset's stated deviations from its paper or code, with their reasons."""
    parts = []
    for preset in all_presets:
        if preset.deviations:
            parts.append(f"**`{preset.name}`**\n\n" + "\n".join(f"- {d}" for d in preset.deviations))
    return "\n\n".join(parts)


def unsourced(all_presets: list[Preset]) -> list[str]:
    """'preset: key' for every value without a bracketed source."""
    return [f"{p.name}: {v.key}" for p in all_presets for v in p.values if not v.source]


def section(conf: Path = CONF) -> str:
    """The generated part of docs/results/presets.md: the deviations, then the sources table."""
    found = presets(conf)
    return ("### Where a preset departs from its paper or code\n\n"
            "Each line is a `# deviation:` comment of the preset's YAML.\n\n" + deviations_list(found) +
            "\n\n### Every value a preset sets, and its source\n\n"
            "From the bracketed comment beside each value in conf/experiment/ (`l.N`: a line of the named file of "
            "the official code, at the commits listed above; `paper`: the paper's text). A value a preset does not "
            "set is gan-runner's default (conf/config.yaml and the group's YAML).\n\n" + sources_table(found))
