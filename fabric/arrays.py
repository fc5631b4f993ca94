"""NumPy helpers shared by the heavy passes over a fabric's arrays.

``np.unique`` of NumPy 2.3 and later finds the distinct values of an integer array with a hash
table when it is asked for nothing else. Over many distinct values (the ids of a large fabric's
edges, GPUs or (class, node) positions) that is an order of magnitude slower than sorting:
about 0.9 s against 0.06 s for a million distinct int64 values on a 2-core x86 machine (this
project's ``benchmarks/scale.py`` box, NumPy 2.4). :func:`unique_sorted` sorts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["spans", "unique_sorted"]


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-D array, ascending (``np.unique(values)``, by sorting)."""
    ordered = np.sort(np.asarray(values).reshape(-1))
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def spans(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans ``starts[i] .. starts[i] + counts[i] - 1`` laid end to end: (span of each element,
    its position), as CSR rows are read."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) + (starts - (np.cumsum(counts) - counts))[owner]
