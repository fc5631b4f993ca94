"""The package's one domain error, and how an error is said in one line."""

from __future__ import annotations

__all__ = ["InfeasibleError", "first_line"]


class InfeasibleError(ValueError):
    """Valid input with no answer: a placement that does not fit, a radix too small for one hop.

    The message says what would make it feasible.
    """


def first_line(err: BaseException | str) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    lines = str(err).strip().splitlines()
    if lines:
        return lines[0]
    return type(err).__name__ if isinstance(err, BaseException) else "error"
