"""Infer what an nccl-tests table does not say: its collective and its rank count.

A pasted nccl-tests table often lacks the binary's name (``all_reduce_perf``) and sometimes the
``#  Rank`` lines. The table itself still separates the collectives (NVIDIA/nccl-tests
``src/*.cu`` and ``doc/PERFORMANCE.md``):

- the ``redop`` column is ``none`` (or absent, in old builds) for all-gather, all-to-all and
  broadcast, a reduction (``sum`` ...) for all-reduce, reduce-scatter, reduce and send-recv;
- the ``root`` column is ``-1`` (or absent) for rootless collectives, ``>= 0`` for broadcast
  and reduce;
- ``busbw / algbw`` is ``2(n-1)/n`` for all-reduce, ``(n-1)/n`` for all-gather, reduce-scatter
  and all-to-all, ``1`` for broadcast, reduce and send-recv;
- ``size = count x type size`` for all-reduce, broadcast, reduce and send-recv, and
  ``count x type size x n`` for all-gather, reduce-scatter and all-to-all (per-rank count).

The ratio is known only to the printed digits (``algbw`` ``76.31`` is 76.305..76.315), so each
row bounds it; the rows of one run together bound ``n``. :func:`resolve` combines this with the
rank counts the log states (rank lines, a launcher line, the ``nThread``/``nGpus`` header) and
returns the collective, the rank count and one line of evidence for each thing it inferred.
All-gather and all-to-all print the same columns and ratio; a table that is one of them and
does not say which is refused, as is all-reduce against send-recv on 2 ranks.

>>> row = row_evidence(line_number=7, size_bytes=1073741824, count=268435456, dtype="float",
...                    bandwidth_tokens=[("131.87", "230.77")])
>>> found = resolve([row], redops={"sum"}, roots=set(), has_root_column=False,
...                 named_operation=None, rank_sources=[])
>>> found.operation, found.num_ranks
('all-reduce', 8)
>>> found.inferred["operation"]
'busbw/algbw ratio 1.75 with 8 ranks; redop sum; size = count x 4 B'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from measure.record_checks import DTYPE_BYTES

__all__ = ["RowEvidence", "RankSource", "Resolution", "row_evidence", "resolve"]

_PER_RANK_COUNT = ("all-gather", "reduce-scatter", "all-to-all")
_FACTOR = {"all-reduce": "2(n-1)/n", "all-gather": "(n-1)/n", "reduce-scatter": "(n-1)/n",
           "all-to-all": "(n-1)/n", "broadcast": "1", "reduce": "1", "send-recv": "1"}
_MAX_RANKS = 10**7
_SLACK = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class RowEvidence:
    """What one data row says: size over count x type size, and busbw/algbw bounds."""

    line_number: int
    size_bytes: int
    count: int
    type_bytes: int | None
    ratio_bounds: tuple[tuple[float, float, float], ...] = ()  # (low, high, algbw) per half


@dataclass(frozen=True, slots=True, kw_only=True)
class RankSource:
    """A rank count the log states, and where (``"the rank lines"``, ``"mpirun -np 16 ..."``).

    A source is used when the busbw/algbw ratio allows it. Collectives that agree with a stated
    count are preferred; only when none does and the ratio allows exactly one count does the
    ratio win (nccl-tests computes it from the real count, while pasted rank lists are elided or
    copied from another run). ``floor`` is the highest listed
    rank + 1, named in the evidence when the ratio overrules the rank lines. A ``forced``
    source (the user's ``--ranks``) is never overruled.
    """

    num_ranks: int
    evidence: str
    inferred: bool = True
    floor: int = 0
    forced: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """The collective and rank count of a run, and the evidence of what was inferred."""

    operation: str
    num_ranks: int | None
    ranks_from: str = ""
    inferred: dict[str, str] = field(default_factory=dict)
    #: A ``--ranks`` the printed busbw/algbw contradicts, kept over it (one line; "" if none).
    contradicted: str = ""


def _bounds(token: str) -> tuple[float, float]:
    """The interval a printed number stands for (``76.31`` -> 76.305..76.315)."""
    value = float(token)
    digits = token.split(".", 1)[1] if "." in token else ""
    if "e" in token.lower():
        return value, value
    half = 0.5 * 10.0 ** -len(digits)
    return value - half, value + half


def row_evidence(*, line_number: int, size_bytes: int, count: int, dtype: str,
                 bandwidth_tokens: Sequence[tuple[str, str]]) -> RowEvidence:
    """Evidence of a row from its size, count, type and printed ``(algbw, busbw)`` pairs."""
    ratios = []
    for algbw, busbw in bandwidth_tokens:
        try:
            alg_low, alg_high = _bounds(algbw)
            bus_low, bus_high = _bounds(busbw)
        except ValueError:
            continue
        if not all(math.isfinite(v) for v in (alg_low, alg_high, bus_low, bus_high)):
            continue
        if alg_low <= 0 or bus_low < 0:
            continue
        ratios.append((bus_low / alg_high, bus_high / alg_low, float(algbw)))
    return RowEvidence(line_number=line_number, size_bytes=size_bytes, count=count,
                       type_bytes=DTYPE_BYTES.get(dtype.lower()), ratio_bounds=tuple(ratios))


def _ranks_for_ratio(operation: str, low: float, high: float) -> tuple[int, int] | None:
    """Rank counts n >= 1 whose busbw factor lies in [low, high] (None: none)."""
    low, high = low - _SLACK, high + _SLACK
    if _FACTOR[operation] == "1":
        return (1, _MAX_RANKS) if low <= 1.0 <= high else None
    top = 2.0 if operation == "all-reduce" else 1.0

    def n_of(factor: float) -> float:
        return math.inf if factor >= top else top / (top - factor)

    if low >= top or high < 0:
        return None
    n_low = max(1, math.ceil(n_of(max(low, 0.0)) - 1e-9))
    n_high = n_of(high)
    n_high_int = _MAX_RANKS if math.isinf(n_high) else min(_MAX_RANKS, math.floor(n_high + 1e-9))
    if high < 0 or n_low > n_high_int:
        return None
    return n_low, n_high_int


@dataclass
class _Fit:
    operation: str
    low: int = 1
    high: int = _MAX_RANKS
    informative: bool = False
    ok: bool = True

    def narrow(self, low: int, high: int) -> None:
        self.low, self.high = max(self.low, low), min(self.high, high)
        if self.low > self.high:
            self.ok = False


def _fit(operation: str, rows: Sequence[RowEvidence]) -> _Fit:
    fit = _Fit(operation)
    for row in rows:
        if row.type_bytes is not None and row.count > 0:
            element_bytes = row.count * row.type_bytes
            if operation in _PER_RANK_COUNT:
                if row.size_bytes % element_bytes:
                    fit.ok = False
                else:
                    k = row.size_bytes // element_bytes
                    fit.narrow(k, k)
            elif row.size_bytes != element_bytes:
                fit.ok = False
        for low, high, _ in row.ratio_bounds:
            span = _ranks_for_ratio(operation, low, high)
            if span is None:
                fit.ok = False
            else:
                fit.informative = fit.informative or _FACTOR[operation] != "1"
                fit.narrow(*span)
        if not fit.ok:
            break
    return fit


def _candidates(redops: set[str], roots: set[int], has_root_column: bool) -> list[str]:
    reduction = any(op.lower() != "none" for op in redops)
    no_reduction = not redops or any(op.lower() == "none" for op in redops)
    rooted = any(root >= 0 for root in roots)
    rootless = not roots or any(root < 0 for root in roots)
    out = []
    if reduction and rootless:
        out += ["all-reduce", "reduce-scatter"]
        if has_root_column:
            out.append("send-recv")
    if reduction and rooted:
        out.append("reduce")
    if no_reduction and rootless:
        out += ["all-gather", "all-to-all"]
    if no_reduction and rooted:
        out.append("broadcast")
    return out


def _ratio_text(rows: Sequence[RowEvidence]) -> str:
    """The ratio of the row with the largest algbw (the most printed digits)."""
    low, high, _ = max((b for row in rows for b in row.ratio_bounds), key=lambda b: b[2])
    return f"{(low + high) / 2:.4g}"


def resolve(
    rows: Sequence[RowEvidence],
    *,
    redops: set[str],
    roots: set[int],
    has_root_column: bool,
    named_operation: str | None,
    rank_sources: Sequence[RankSource],
) -> Resolution:
    """The collective and rank count of one run's rows.

    Parameters
    ----------
    rows
        Evidence of every data row of the run.
    redops, roots
        The distinct values of the ``redop`` and ``root`` columns (empty: no such column).
    has_root_column
        Whether the table has a ``root`` column (send-recv exists only in builds that print it).
    named_operation
        The collective the log or the user names (then only the rank count is inferred).
    rank_sources
        Rank counts the log states, most trusted first.

    Raises
    ------
    ValueError
        One line: the candidates that remain and the ``--operation`` flag to choose, or no
        collective fits the columns.
    """
    floor = max((s.floor for s in rank_sources), default=0)
    ops = [named_operation] if named_operation else _candidates(redops, roots, has_root_column)
    fits = [_fit(op, rows) for op in ops]
    # Fits that agree with a rank count the log states; fits whose ratio alone gives the rank
    # count (or none, when the log states none): (fit, ranks, evidence, inferred).
    stated: list[tuple[_Fit, int | None, str, bool]] = []
    by_ratio: list[tuple[_Fit, int | None, str, bool]] = []
    for fit in fits:
        if not fit.ok:
            continue
        source = next((src for src in rank_sources if fit.low <= src.num_ranks <= fit.high), None)
        if source is not None:
            stated.append((fit, source.num_ranks, source.evidence, source.inferred))
        elif fit.low == fit.high and not any(src.forced for src in rank_sources):
            by_ratio.append((fit, fit.low, "", True))
        elif not rank_sources:
            by_ratio.append((fit, None, "", False))
    usable = stated or by_ratio
    forced = next((src for src in rank_sources if src.forced), None)
    # what the ratio alone gives where a --ranks the user forced fits nothing
    ratio_says = [f"{fit.operation} with {fit.low} ranks" for fit in fits
                  if fit.ok and fit.low == fit.high] if forced is not None else []
    if named_operation and not usable:
        # The log or the user names it: trust the name and the stated counts over a ratio
        # that fits neither (old builds printed other factors).
        first = rank_sources[0] if rank_sources else None
        contradicted = ""
        if first is not None and first.forced and ratio_says:
            contradicted = (f"--ranks {first.num_ranks}: the printed busbw/algbw "
                            f"{_ratio_text(rows)} is {ratio_says[0]}; kept --ranks (old "
                            f"nccl-tests builds printed other factors), check it")
        return Resolution(operation=named_operation,
                          num_ranks=first.num_ranks if first else None,
                          ranks_from=first.evidence if first else "",
                          inferred={"num_ranks": first.evidence} if first and first.inferred
                          else {}, contradicted=contradicted)
    described = _describe_columns(redops, roots)
    if not usable and forced is not None and ratio_says:
        raise ValueError(f"--ranks {forced.num_ranks} fits no collective here: the printed "
                         f"busbw/algbw {_ratio_text(rows)} is {_or_list(ratio_says)}; check "
                         f"--ranks (or name the collective with --operation)")
    if not usable:
        raise ValueError(f"no collective fits the table ({described}); pass --operation")
    if len(usable) > 1:
        names = [u[0].operation for u in usable]
        with_ranks = {u[1] for u in usable if u[1] is not None}
        rank_part = f" with {with_ranks.pop()} ranks" if len(with_ranks) == 1 else ""
        ratio = f", busbw/algbw {_ratio_text(rows)}{rank_part}" if any(
            r.ratio_bounds for r in rows) else ""
        choices = " or ".join(f"--operation {n}" for n in names)
        raise ValueError(f"the log does not name the collective and it could be "
                         f"{_or_list(names)} ({described}{ratio}); pass {choices}")
    fit, ranks, evidence, was_inferred = usable[0]
    inferred: dict[str, str] = {}
    if ranks is not None and was_inferred:
        if not evidence:
            listed = (f"; the rank lines list ranks up to {floor - 1}, "
                      f"an incomplete or pasted list" if floor > 1 else "")
            evidence = (f"busbw/algbw ratio {_ratio_text(rows)} = {_FACTOR[fit.operation]} "
                        f"for {fit.operation}{listed}")
        inferred["num_ranks"] = evidence
    if not named_operation:
        parts = []
        if fit.informative or any(r.ratio_bounds for r in rows):
            rank_part = f" with {ranks} ranks" if ranks is not None else ""
            parts.append(f"busbw/algbw ratio {_ratio_text(rows)}{rank_part}")
        parts.append(described)
        size_rule = _size_rule(fit.operation, rows)
        if size_rule:
            parts.append(size_rule)
        inferred["operation"] = "; ".join(p for p in parts if p)
    return Resolution(operation=fit.operation, num_ranks=ranks, ranks_from=evidence,
                      inferred=inferred)


def _describe_columns(redops: set[str], roots: set[int]) -> str:
    redop = f"redop {','.join(sorted(redops))}" if redops else "no redop column"
    root = f"root {','.join(str(r) for r in sorted(roots))}" if roots else ""
    return ", ".join(p for p in (redop, root) if p)


def _size_rule(operation: str, rows: Sequence[RowEvidence]) -> str:
    typed = [r for r in rows if r.type_bytes is not None and r.count > 0]
    if not typed:
        return ""
    rank_part = " x n" if operation in _PER_RANK_COUNT else ""
    return f"size = count x {typed[0].type_bytes} B{rank_part}"


def _or_list(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
