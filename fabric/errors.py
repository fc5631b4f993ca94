"""The package's one domain error."""

from __future__ import annotations

__all__ = ["InfeasibleError"]


class InfeasibleError(ValueError):
    """Valid input with no answer: a placement that does not fit, a radix too small for one hop.

    The message says what would make it feasible.
    """
