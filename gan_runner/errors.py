"""Errors that are the user's to fix: the CLI prints their message as one paragraph, no traceback."""


class UserError(Exception):
    """Bad input: the message names the problem and the fix."""
