"""Pause Python's cyclic garbage collector while a fabric is built.

A builder allocates hundreds of thousands of dicts and strings that all live on (the graph's
nodes, edges and attributes) and none of which form garbage cycles. Each 700 allocations
CPython runs a young-generation collection that walks every new object, and every 10 of those
an older one; the older passes also walk the graphs already alive in the process (the sweep's
per-worker cache, a report's other families), so a build's cost grows with what came before it.
The collector finds nothing to free in a builder's work (a graph is a tree of dicts), so
pausing it is pure saving: 15 % of a sweep design's CPU at 512-4,096 GPUs on this project's
2-core machine (``benchmarks/sweep.py``). The technique and its trade-off are CPython's own
documented switches: ``gc.disable`` / ``gc.enable``
(https://docs.python.org/3/library/gc.html, read 2026-12).

:func:`gc_paused` is a context manager and a decorator; nested uses leave the collector as the
outermost found it, and an exception re-enables it as well. Garbage cycles made inside (none
are expected) are collected at the next collection after the pause.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block, if it was enabled.

    As a decorator (``@gc_paused()``) each call gets its own pause, so builders that call
    builders restore the collector once, at the outermost exit.

    >>> import gc
    >>> with gc_paused():
    ...     inside = gc.isenabled()
    >>> inside, gc.isenabled()
    (False, True)
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
