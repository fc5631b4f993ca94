"""Holdout rules: which of the measured sizes a calibration fits and which it leaves out.

A calibration is trusted by its error on points it did not see. A holdout spec picks those
points by size: the distinct sizes of the selected records, sorted, positions counting from 0.

``none``
    fit everything (default).
``half``
    same as ``every:2``: hold out every second size (positions 1, 3, 5 ...).
``every:K``
    hold out every K-th size (positions K-1, 2K-1 ...): ``every:3`` holds out a third.
``fit-every:K``
    fit only every K-th size (positions 0, K, 2K ...) and hold out the rest.
``fraction:F``
    hold out a fraction 0 < F < 1 of the sizes, spread evenly (position i is held out when
    ``floor((i+1)F) > floor(iF)``).
``sizes:LIST``
    hold out the listed sizes (``sizes:1MiB,4MiB``; each must occur in the records).

>>> parse_holdout("every:3").split([8, 16, 32, 64, 128, 256]).held_out_sizes_bytes
(32, 256)
>>> parse_holdout("fit-every:3").split([8, 16, 32, 64]).fitted_sizes_bytes
(8, 64)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from fabric.units import parse_size

__all__ = ["HOLDOUT_KINDS", "Holdout", "HoldoutSplit", "parse_holdout"]

HOLDOUT_KINDS = ("none", "every", "fit-every", "fraction", "sizes")
_FORMS = "none, half, every:K, fit-every:K, fraction:F or sizes:1MiB,4MiB"


class HoldoutSplit(NamedTuple):
    """Distinct sizes to fit and to hold out, both ascending."""

    fitted_sizes_bytes: tuple[int, ...]
    held_out_sizes_bytes: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Holdout:
    """A parsed holdout spec (see the module docstring for the syntax).

    Raises
    ------
    ValueError
        An unknown ``kind``, a step below 2 for ``every`` / ``fit-every``, a fraction outside
        (0, 1), or ``sizes`` with no size.
    """

    kind: str = "none"
    step: int = 0
    fraction: float = 0.0
    sizes_bytes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in HOLDOUT_KINDS:
            raise ValueError(
                f"holdout kind must be none, every, fit-every, fraction or sizes, got {self.kind!r}"
            )
        if self.kind in ("every", "fit-every") and self.step < 2:
            raise ValueError(f"holdout {self.kind}:K needs an integer K >= 2, got {self.step!r}")
        if self.kind == "fraction" and not 0 < self.fraction < 1:
            raise ValueError(f"holdout fraction must be in (0, 1), got {self.fraction!r}")
        if self.kind == "sizes" and not self.sizes_bytes:
            raise ValueError("holdout sizes: needs at least one size")

    def split(self, sizes_bytes: Sequence[int]) -> HoldoutSplit:
        """Split the distinct sizes of ``sizes_bytes`` into fitted and held out.

        Raises
        ------
        ValueError
            A ``sizes:`` spec naming a size that is not among ``sizes_bytes``.
        """
        sizes = sorted(set(int(s) for s in sizes_bytes))
        if self.kind == "sizes":
            missing = sorted(set(self.sizes_bytes) - set(sizes))
            if missing:
                raise ValueError(
                    f"holdout sizes {', '.join(map(str, missing))} B are not among "
                    f"the records' sizes"
                )
            held = set(self.sizes_bytes)
        elif self.kind == "every":
            held = {s for i, s in enumerate(sizes) if i % self.step == self.step - 1}
        elif self.kind == "fit-every":
            held = {s for i, s in enumerate(sizes) if i % self.step != 0}
        elif self.kind == "fraction":
            f = self.fraction
            held = {s for i, s in enumerate(sizes) if math.floor((i + 1) * f) > math.floor(i * f)}
        else:
            held = set()
        return HoldoutSplit(tuple(s for s in sizes if s not in held), tuple(sorted(held)))


def parse_holdout(spec: str | Holdout | None) -> Holdout:
    """Parse ``none``, ``half``, ``every:K``, ``fit-every:K``, ``fraction:F`` or ``sizes:LIST``.

    Parameters
    ----------
    spec
        A spec (module docstring), an already parsed :class:`Holdout` (returned as is), or
        None (``none``).

    Returns
    -------
    Holdout

    Raises
    ------
    ValueError
        An unknown form or a bad number, naming the spec and the accepted forms.
    """
    if spec is None:
        return Holdout()
    if isinstance(spec, Holdout):
        return spec
    text = str(spec).strip().lower()
    kind, _, value = text.partition(":")
    try:
        if text in ("none", ""):
            return Holdout()
        if text == "half":
            return Holdout(kind="every", step=2)
        if kind in ("every", "fit-every"):
            return Holdout(kind=kind, step=int(value))
        if kind == "fraction":
            return Holdout(kind="fraction", fraction=float(value))
        if kind == "sizes":
            return Holdout(
                kind="sizes",
                sizes_bytes=tuple(
                    sorted({parse_size(v.strip()) for v in value.split(",") if v.strip()})
                ),
            )
    except ValueError as err:
        raise ValueError(f"bad holdout {spec!r}: {err}; use {_FORMS}") from err
    raise ValueError(f"bad holdout {spec!r}; use {_FORMS}")
