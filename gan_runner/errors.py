"""Errors that are the user's to fix: the commands print their message as one paragraph, no traceback."""

from __future__ import annotations

import difflib


class UserError(Exception):
    """Bad input: the message names the problem and the fix."""


def did_you_mean(key: str, known: list[str]) -> str:
    """"did you mean K? " for the known key closest to a misspelt `key` (difflib's ratio at least 0.6), or ""."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""
