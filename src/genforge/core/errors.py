"""User-facing errors. Each carries one line that says what is wrong and what to do.

The CLI prints ``error: <message>`` and exits 2 for any :class:`GenforgeError`; internal
invariants use ``assert`` instead.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenforgeError(Exception):
    """An error caused by user input or the environment, with an actionable message."""


class ConfigError(GenforgeError):
    pass


class DataError(GenforgeError):
    pass


class CheckpointError(GenforgeError):
    pass


class TrainingDiverged(GenforgeError):
    pass


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or a list of valid ones."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (valid: {', '.join(choices)})" if choices else ""


def check_count(flag: str, value, lo: int, hi: int) -> None:
    """One bound check for every integer a user passes (counts, seeds, labels): a clear line, never an overflow."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise GenforgeError(f"{flag} must be an integer from {lo} to {hi}, got {value!r}")
