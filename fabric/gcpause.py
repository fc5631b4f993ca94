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
            if PROMOTE and gc.get_freeze_count() == 0:
                _promote_young()
            gc.enable()


#: Move what the pause made to the oldest generation at its end (see :func:`_promote_young`).
PROMOTE = True


def _promote_young() -> None:
    """Put every object the collector tracks into its oldest generation, without walking them.

    After a pause the young generation holds the whole new fabric (40,000 tracked objects at
    512 servers: the edges' attribute dicts are a dict subclass, which CPython always tracks),
    and the first allocation after ``gc.enable`` would walk all of them, then again as they age:
    6 ms of a 77 ms build. ``gc.freeze`` moves every tracked object to the permanent generation
    and ``gc.unfreeze`` moves them back into the oldest one, both without visiting an object
    (https://docs.python.org/3/library/gc.html#gc.freeze, read 2026-12). Garbage cycles among
    them are still found, at the next full collection instead of a young one. Skipped when the
    process froze objects itself (a pre-fork server's ``gc.freeze``), which ``unfreeze`` would
    undo.
    """
    gc.freeze()
    gc.unfreeze()
