"""The Pareto front of a sweep: capex (min) vs step time (min) vs utilization per dollar (max)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["OBJECTIVES", "pareto_front", "filter_rows"]

#: (column, +1 to minimize / -1 to maximize)
OBJECTIVES: tuple[tuple[str, int], ...] = (
    ("cost_usd", 1), ("step_time_s", 1), ("utilization_per_musd", -1),
)


def _dominates(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    better = False
    for column, sign in OBJECTIVES:
        x, y = sign * a[column], sign * b[column]
        if x > y:
            return False
        better = better or x < y
    return better


def filter_rows(rows: Sequence[Mapping[str, Any]], where: Mapping[str, str]
                ) -> list[Mapping[str, Any]]:
    """Rows whose columns equal ``where``'s values (compared as text)."""
    return [r for r in rows if all(str(r.get(k)) == v for k, v in where.items())]


def pareto_front(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Non-dominated rows (failed rows and rows lacking an objective are left out), by capex."""
    usable = [r for r in rows if not r.get("error")
              and all(r.get(c) is not None for c, _ in OBJECTIVES)]
    front = [r for r in usable if not any(_dominates(o, r) for o in usable if o is not r)]
    return sorted(front, key=lambda r: (r["cost_usd"], r["step_time_s"]))
