"""One way for every command to read its arguments and to answer --help and --version.

gan-run is a Hydra app (key=value overrides of the composed config). gan-sample, gan-eval, gan-report and
gan-dashboard take key=value too, read here by one small parser rather than by Hydra: they have no config to
compose, Hydra would make a run directory and set up logging for each call, and gan-report and gan-dashboard take
folders as plain arguments. Each command declares its options (`Option`); the parser types the values, refuses an
unknown key with the closest known one, and prints the help (every option, its meaning, its default, examples)
without importing torch, so --help answers at once.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

from gan_runner.errors import UserError, did_you_mean


@dataclass(frozen=True)
class Option:
    """`key=VALUE`: what it means, its type (`kind` turns the text into a value, or raises ValueError), its default
    (None: not given), and a placeholder for the usage line. `default_text` is what the help says of a default
    decided when the command runs (the value stays `default`, e.g. None)."""

    key: str
    meaning: str
    kind: Callable[[str], Any] = str
    default: Any = None
    placeholder: str = "VALUE"
    repeatable: bool = False  # key=A key=B (or key=A,B) gives [A, B]
    default_text: str | None = None

    def default_shown(self) -> str:
        return self.default_text or ("" if self.default is None else str(self.default))


@dataclass
class Command:
    """A command's name, what it does, its options, examples, and whether it takes plain arguments (folders)."""

    name: str
    summary: str
    options: list[Option]
    examples: list[str]
    positional: str | None = None  # e.g. "FOLDER..." for gan-report; None: key=value only
    prefixes: tuple[str, ...] = ()  # keys passed through as they are, e.g. "dataset." (dataset.root=...)
    details: str = ""
    by_key: dict[str, Option] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {option.key: option for option in self.options}

    def help(self) -> str:
        usage = " ".join([self.name, *(f"[{o.key}={o.placeholder}]" for o in self.options)]
                         + ([self.positional] if self.positional else []))
        rows = [(f"{o.key}=", o.meaning + (f" (default: {o.default_shown()})" if o.default_shown() else ""))
                for o in self.options]
        rows += [("/".join(f"{p}KEY=" for p in self.prefixes), "passed on to the run's config (as gan-run's "
                  "overrides)")] if self.prefixes else []
        rows += [("--help, -h", "this help"), ("--version", "gan-runner's version, and torch's and Hydra's")]
        width = max(len(key) for key, _ in rows) + 2
        lines = [*textwrap.wrap(f"{self.name}: {self.summary}", 116), "", *textwrap.wrap("usage: " + usage, 116,
                                                                 subsequent_indent="  "), "", "options:"]
        for key, meaning in rows:
            lines += textwrap.wrap(meaning, 116, initial_indent=f"  {key:<{width}}",
                                   subsequent_indent=" " * (width + 2))
        if self.details:
            lines += ["", self.details.strip()]
        lines += ["", "examples:", *(f"  {example}" for example in self.examples)]
        return "\n".join(lines) + "\n"

    def parse(self, argv: list[str]) -> tuple[dict[str, Any], list[str], list[str]]:
        """(options given, typed; the prefixed key=value arguments; the plain arguments). Prints the help or the
        version and exits 0 when asked."""
        if any(arg in ("-h", "--help") for arg in argv):
            print(self.help(), end="")
            sys.exit(0)
        if "--version" in argv:
            print(versions())
            sys.exit(0)
        given: dict[str, Any] = {}
        prefixed, plain = [], []
        for arg in argv:
            key, equals, text = arg.partition("=")
            if equals and key in self.by_key and self.by_key[key].repeatable:
                given[key] = given.get(key, []) + [self.typed(self.by_key[key], part) for part in text.split(",") if part]
            elif equals and key in self.by_key:
                given[key] = self.typed(self.by_key[key], text)
            elif equals and key.startswith(self.prefixes or ("\0",)):
                prefixed.append(arg)
            elif self.positional and (not equals or Path(arg).exists()):  # a sweep job's folder name has "="
                plain.append(arg)
            else:
                known = [f"{o.key}=" for o in self.options]
                raise UserError(f"{arg} is not an option of {self.name}: {did_you_mean(key + '=', known)}its "
                                f"options are {', '.join(known)}. Fix: {self.name} --help lists them with their "
                                "meanings.")
        return given, prefixed, plain

    def typed(self, option: Option, text: str) -> Any:
        try:
            return option.kind(text)
        except ValueError as error:
            raise UserError(f"{option.key}={text}: {error}. {option.key} is {option.meaning[0].lower()}"
                            f"{option.meaning[1:]}. Fix: {self.name} {option.key}={option.placeholder}.") from None

    def run(self, main: Callable[[dict[str, Any], list[str], list[str]], None], argv: list[str] | None = None) -> None:
        """Parses `argv` (default: the command line) and calls `main(options, prefixed, plain)`; a UserError from
        either is one paragraph on stderr and exit status 2."""
        try:
            given, prefixed, plain = self.parse(sys.argv[1:] if argv is None else argv)
            defaults = {o.key: ([] if o.repeatable else o.default) for o in self.options}
            main({**defaults, **given}, prefixed, plain)
        except UserError as error:
            print(f"{self.name}: error: {error}", file=sys.stderr)
            sys.exit(2)


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("not a whole number") from None


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def flag(text: str) -> bool:
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    raise ValueError("neither true nor false")


def versions() -> str:
    """gan-runner's version and those of the libraries whose behaviour a run's numbers depend on (torch's read from
    its package metadata: no import)."""
    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    from gan_runner import __version__

    return f"gan-runner {__version__} (torch {of('torch')}, hydra-core {of('hydra-core')}, omegaconf {of('omegaconf')})"
