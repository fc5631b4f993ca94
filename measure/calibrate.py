"""Fit the collective model to measurements, and save and load the fit.

The ideal flavor predicts ``time(S) = latency_s + seconds_per_byte * S`` per algorithm and rank
placement (:func:`collectives.model.algorithm_costs`). Calibration fits its parameters
(:class:`collectives.model.ModelParams`): ``alpha_s``, the software cost of one algorithm step,
and one efficiency per link class (the edges' ``link`` key) that the measured points load,
with :func:`scipy.optimize.least_squares` (bounded, trust-region reflective, robust loss on the
log of time, so a 10 % miss weighs the same at 8 B and at 8 GiB). Each evaluation re-prices the
cached routing with new parameters, so a fit of a few hundred points takes well under a second.

Held-out sizes (``--holdout``) are left out of the fit; :func:`measure.validate.validate`
reports predicted vs measured per point, which points were fitted, and the median / worst
relative error. Validation lives in :mod:`measure.validate`; ``validate``, ``ValidationReport``
and ``ValidationPoint`` are re-exported here (imported on first use: :mod:`measure.validate`
imports this module).

Holdout specs (distinct sizes of the selected records, sorted; positions count from 0):

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

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import networkx as nx
import numpy as np
from scipy.optimize import least_squares

from collectives.algorithms import ALGORITHMS
from collectives.model import ModelParams, algorithm_costs
from fabric.fileio import atomic_write_text
from fabric.units import parse_size
from measure.generic_fabric import (
    generic_fabric,  # noqa: F401 (the calibrate doctest uses it)
    generic_fabric_from_records,
    gpus_for_layout,
    rank_layouts,
)
from measure.records import Record, read_records

if TYPE_CHECKING:
    from measure.validate import ValidationPoint, ValidationReport, validate

__all__ = [
    "CALIBRATION_SCHEMA",
    "CALIBRATION_VERSION",
    "Holdout",
    "HoldoutSplit",
    "parse_holdout",
    "select_records",
    "load_measurements",
    "Band",
    "FitPoint",
    "Calibration",
    "calibrate",
    "save_calibration",
    "load_calibration",
    "ValidationPoint",
    "ValidationReport",
    "validate",
]

CALIBRATION_SCHEMA = "fabric-calibration"
CALIBRATION_VERSION = 1
LOSSES = ("linear", "soft_l1", "huber", "cauchy")
_ALPHA_MAX_US = 1.0e4  # 10 ms per algorithm step: anything slower is not a network
_EFF_MIN, _EFF_MAX = 1.0e-3, 1.5  # ModelParams accepts (0, 1.5]
_NCCL_ALGOS = {
    "ring": "ring",
    "tree": "tree",
    "nvls": "in-network",
    "nvlstree": "in-network",
    "collnetdirect": "in-network",
    "collnetchain": "in-network",
    "pat": "pat",
}


# -- holdout -------------------------------------------------------------------------------
class HoldoutSplit(NamedTuple):
    """Distinct sizes to fit and to hold out, both ascending."""

    fitted_sizes_bytes: tuple[int, ...]
    held_out_sizes_bytes: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Holdout:
    """A parsed holdout spec (see the module docstring for the syntax)."""

    kind: str = "none"
    step: int = 0
    fraction: float = 0.0
    sizes_bytes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("none", "every", "fit-every", "fraction", "sizes"):
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
    forms = "none, half, every:K, fit-every:K, fraction:F or sizes:1MiB,4MiB"
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
        raise ValueError(f"bad holdout {spec!r}: {err}; use {forms}") from err
    raise ValueError(f"bad holdout {spec!r}; use {forms}")


# -- inputs ----------------------------------------------------------------------------------
def select_records(records: Sequence[Record], *, in_place: bool | None = False) -> list[Record]:
    """The records a fit may use: correct results, size > 0, not IMB PingPing, one buffer mode.

    ``in_place`` False keeps out-of-place records (nccl-tests' left half), True in-place ones,
    None both. Records with ``num_wrong`` other than None or 0 are dropped.
    """
    out = []
    for r in records:
        if r.num_wrong not in (None, 0) or r.size_bytes <= 0 or r.num_ranks < 2:
            continue
        if r.extra.get("benchmark") == "PingPing":
            continue
        if in_place is not None and bool(r.in_place) != in_place:
            continue
        out.append(r)
    return out


def load_measurements(path: str | Path) -> list[Record]:
    """Records from a JSON Lines records file, or from a benchmark log (nccl-tests, OSU, IMB).

    A file whose first non-blank character is ``{`` is read as records
    (:func:`measure.records.read_records`); anything else as a log
    (:func:`measure.parsers.parse_log_file`).

    Raises
    ------
    ValueError
        One line: a missing or unreadable file, a bad record line, a log with no data.
    """
    from measure.parsers import parse_log_file

    path = Path(path)
    try:
        head = path.read_bytes()[:4096]
    except OSError as err:
        raise ValueError(f"cannot read {str(path)!r}: {err.strerror or err}") from err
    if head.lstrip()[:1] == b"{":
        return read_records(path)
    return list(parse_log_file(path).records)


def _algorithm_of(record: Record) -> str | None:
    name = (record.algorithm or record.env.get("NCCL_ALGO", "")).strip().lower()
    if not name or "," in name:
        return None
    if name in ALGORITHMS:
        return name
    return _NCCL_ALGOS.get(name.replace("_", "").replace("-", ""))


# -- the fit problem -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Group:
    operation: str
    gpus: tuple[str, ...]
    algorithm: str | None
    points: np.ndarray  # indices into the point arrays


class _Problem:
    """Points grouped by (operation, GPUs, algorithm); times for a parameter vector."""

    def __init__(self, G: nx.DiGraph, records: Sequence[Record], links: Sequence[str]) -> None:
        self.G = G
        self.links = list(links)
        self.records = list(records)
        layouts = rank_layouts(self.records)
        keyed: dict[tuple[str, tuple[str, ...], str | None], list[int]] = {}
        for i, (r, layout) in enumerate(zip(self.records, layouts, strict=True)):
            key = (r.operation, tuple(gpus_for_layout(G, layout)), _algorithm_of(r))
            keyed.setdefault(key, []).append(i)
        self.groups = [_Group(op, g, a, np.asarray(ix)) for (op, g, a), ix in keyed.items()]
        self.size = np.array([r.size_bytes for r in self.records], dtype=float)
        self.measured = np.array([r.time_s for r in self.records], dtype=float)

    def params(self, x: np.ndarray) -> ModelParams:
        eff = {
            k: float(np.clip(v, _EFF_MIN, _EFF_MAX)) for k, v in zip(self.links, x[1:], strict=True)
        }
        return ModelParams(alpha_s=max(float(x[0]), 0.0) * 1e-6, efficiency_by_link=eff)

    def times(self, x: np.ndarray, *, with_algorithms: bool = False) -> Any:
        return self.times_for(self.params(x), with_algorithms=with_algorithms)

    def times_for(self, params: ModelParams, *, with_algorithms: bool = False) -> Any:
        out = np.empty(len(self.size))
        chosen = [""] * len(self.size)
        for g in self.groups:
            costs = algorithm_costs(
                self.G, g.operation, ranks=list(g.gpus), algorithm=g.algorithm, params=params
            )
            lat = np.array([c.latency_s for c in costs])
            spb = np.array([c.seconds_per_byte for c in costs])
            t = lat[:, None] + spb[:, None] * self.size[g.points][None, :]
            best = np.argmin(t, axis=0)
            out[g.points] = t[best, np.arange(len(g.points))]
            if with_algorithms:
                for j, p in enumerate(g.points):
                    chosen[p] = costs[best[j]].algorithm
        return (out, chosen) if with_algorithms else out

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.log(self.times(x)) - np.log(self.measured)


def _usable(G: nx.DiGraph, records: Sequence[Record]) -> tuple[list[Record], list[str]]:
    """Records whose (operation, placement) the model can price on G, and notes on the rest."""
    notes: list[str] = []
    layouts = rank_layouts(records)
    ok: list[Record] = []
    dropped: dict[tuple[str, int, str], int] = {}
    cache: dict[tuple[str, tuple[str, ...], str | None], str] = {}
    for r, layout in zip(records, layouts, strict=True):
        gpus = tuple(gpus_for_layout(G, layout))
        key = (r.operation, gpus, _algorithm_of(r))
        if key not in cache:
            try:
                algorithm_costs(G, r.operation, ranks=list(gpus), algorithm=key[2])
                cache[key] = ""
            except ValueError as err:
                cache[key] = str(err).splitlines()[0]
        if cache[key]:
            dropped.setdefault((r.operation, r.num_ranks, cache[key]), 0)
            dropped[(r.operation, r.num_ranks, cache[key])] += 1
        else:
            ok.append(r)
    for (op, n, why), count in dropped.items():
        notes.append(f"left out {count} {op} point(s) on {n} ranks: {why}")
    unknown = sum(
        1
        for r, x in zip(ok, rank_layouts(ok), strict=True)
        if not x.known and r.num_hosts == 1 and not r.placement
    )
    if unknown:
        notes.append(
            f"{unknown} point(s) do not say where their ranks ran (OSU/IMB); taken as one host"
        )
    return ok, notes


def _loaded_links(problem: _Problem, x0: np.ndarray) -> list[str]:
    """Link keys whose efficiency changes at least one predicted time (the identifiable ones)."""
    base = problem.times(x0)
    keep = []
    for i, link in enumerate(problem.links):
        x = x0.copy()
        x[1 + i] *= 0.5
        if np.any(np.abs(problem.times(x) / base - 1) > 1e-9):
            keep.append(link)
    return keep


def _loss_weights(r: np.ndarray, loss: str, f_scale: float) -> np.ndarray:
    """rho'(z) at z = (r / f_scale)^2: the IRLS weight of each residual (scipy's losses)."""
    z = (r / f_scale) ** 2
    if loss == "soft_l1":
        return 1.0 / np.sqrt(1.0 + z)
    if loss == "huber":
        return np.where(z <= 1.0, 1.0, 1.0 / np.sqrt(np.maximum(z, 1.0)))
    if loss == "cauchy":
        return 1.0 / (1.0 + z)
    return np.ones_like(r)


class _FitProblem(Protocol):
    """What the uncertainty estimate needs of a fit: measured times and log residuals."""

    measured: np.ndarray

    def residuals(self, x: np.ndarray) -> np.ndarray: ...


def _uncertainty(
    problem: _FitProblem,
    x: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    loss: str,
    f_scale: float,
) -> tuple[np.ndarray, float, float]:
    """(standard errors of x, largest log-time standard error of a point, residual log RMS).

    Parameters whose Jacobian column vanishes (no point depends on them at the solution) get
    a NaN standard error; with as many points as parameters all are NaN and the spreads 0.
    """
    r = problem.residuals(x)
    m, p = len(r), len(x)
    if m <= p:
        return np.full(p, np.nan), 0.0, 0.0
    jac = _jacobian(problem, x, lower, upper)
    w = _loss_weights(r, loss, f_scale)
    cov = float(np.sum(w * r**2)) / (m - p) * np.linalg.pinv(jac.T @ (w[:, None] * jac))
    stderr = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    norms = np.linalg.norm(jac, axis=0)
    stderr[norms <= 1e-9 * max(float(norms.max()), 1e-300)] = np.nan
    spread = float(np.sqrt(np.max(np.einsum("ij,jk,ik->i", jac, cov, jac).clip(0.0))))
    return stderr, spread, float(np.sqrt(np.sum(r**2) / (m - p)))


def _jacobian(
    problem: _FitProblem, x: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Central differences of the log-time residuals, one-sided at a bound."""
    jac = np.empty((len(problem.measured), len(x)))
    for k in range(len(x)):
        h = 1e-4 * max(abs(x[k]), 1e-2)
        lo, hi = max(x[k] - h, lower[k]), min(x[k] + h, upper[k])
        xa, xb = x.copy(), x.copy()
        xa[k], xb[k] = lo, hi
        jac[:, k] = (problem.residuals(xb) - problem.residuals(xa)) / (hi - lo)
    return jac


# -- results ---------------------------------------------------------------------------------
class Band(NamedTuple):
    """An error band around a predicted time."""

    low_s: float
    high_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FitPoint:
    """One measured point the fit used, and the fitted model's time for it."""

    operation: str
    size_bytes: int
    num_ranks: int
    num_hosts: int
    measured_time_s: float
    predicted_time_s: float
    algorithm: str

    @property
    def relative_error(self) -> float:
        """predicted / measured - 1."""
        return self.predicted_time_s / self.measured_time_s - 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """Fitted model parameters with their uncertainty, fit error and what they were fitted on.

    ``params`` is what the model reads (``predict(..., calibration=cal)``). Standard errors come
    from the Jacobian J of the log-time residuals r at the solution: covariance
    ``s^2 (J^T W J)^-1`` with ``s^2 = sum(w r^2) / (m - p)`` for m points and p parameters,
    W = diag(w) the robust loss's weights rho'((r/f)^2) (all 1 for ``loss="linear"``, which gives
    the textbook ``s^2 (J^T J)^-1``; Bates & Watts, *Nonlinear Regression Analysis*, 1988, §2.3;
    scipy's ``curve_fit`` computes the same from ``least_squares``' Jacobian).
    ``bandwidth_by_link_bytes_per_s`` is each fitted link class's nominal bandwidth per link in
    the fitted graph; efficiency x nominal is the bandwidth the data shows.
    """

    params: ModelParams
    alpha_s_stderr: float
    efficiency_stderr_by_link: dict[str, float]
    bandwidth_by_link_bytes_per_s: dict[str, float]
    num_points: int
    fitted_sizes_bytes: tuple[int, ...]
    held_out_sizes_bytes: tuple[int, ...]
    median_relative_error: float
    worst_relative_error: float
    residual_log_rms: float
    parameter_log_spread: float
    graph: dict[str, Any]
    fit_points: tuple[FitPoint, ...] = ()
    flavor: str = "ideal"
    loss: str = "soft_l1"
    notes: tuple[str, ...] = ()
    nccl: dict[str, float] = field(default_factory=dict)
    nccl_stderr: dict[str, float] = field(default_factory=dict)
    nccl_version: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.params, ModelParams):
            raise ValueError(f"params must be a ModelParams, got {type(self.params).__name__}")
        if not isinstance(self.num_points, int) or self.num_points < 1:
            raise ValueError(f"num_points must be an integer >= 1, got {self.num_points!r}")
        for name in ("residual_log_rms", "parameter_log_spread"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value >= 0 or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    @property
    def num_parameters(self) -> int:
        """Fitted parameters: alpha_s plus one efficiency per fitted link class."""
        return 1 + len(self.params.efficiency_by_link)

    @property
    def band_log_halfwidth(self) -> float:
        """h = 2 sqrt(residual_log_rms^2 + parameter_log_spread^2) (about 95 % if log-normal)."""
        return 2.0 * math.hypot(self.residual_log_rms, self.parameter_log_spread)

    @property
    def effective_bandwidth_by_link_bytes_per_s(self) -> dict[str, float]:
        """Nominal bandwidth x fitted efficiency, per link class."""
        eff = self.params.efficiency_by_link
        return {
            k: bw * eff.get(k, self.params.default_efficiency)
            for k, bw in self.bandwidth_by_link_bytes_per_s.items()
        }

    def band(self, time_s: float) -> Band:
        """Error band of a predicted time: ``time_s * exp(-h)`` to ``time_s * exp(h)``.

        h (:attr:`band_log_halfwidth`) combines the fit's residual spread (RMS of log(predicted /
        measured) over the fit points, with m - p degrees of freedom) and the parameters'
        uncertainty (the largest standard error of a fitted point's log time,
        ``sqrt(J_i C J_i^T)``), in quadrature, times 2.
        """
        h = self.band_log_halfwidth
        return Band(time_s * math.exp(-h), time_s * math.exp(h))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (the saved file's body)."""
        out = asdict(self)
        out["fitted_sizes_bytes"] = list(self.fitted_sizes_bytes)
        out["held_out_sizes_bytes"] = list(self.held_out_sizes_bytes)
        out["fit_points"] = [asdict(p) for p in self.fit_points]
        out["notes"] = list(self.notes)
        return out


def calibrate(
    records: Sequence[Record],
    G: nx.DiGraph | None = None,
    *,
    flavor: str = "ideal",
    holdout: str | Holdout | None = None,
    in_place: bool | None = False,
    loss: str = "soft_l1",
    f_scale_log: float = 0.1,
) -> Calibration:
    """Fit ``alpha_s`` and per-link-class efficiencies of the ideal model to measured points.

    Parameters
    ----------
    records
        Measurements (:class:`measure.records.Record`); see :func:`select_records` for which
        are used. Each record's ranks are mapped onto ``G`` (host i -> node i, its ranks -> that
        node's GPUs in order); a record's ``algorithm`` (or ``NCCL_ALGO``) is used when it names
        one the model knows, else the model picks the fastest per size.
    G
        The fabric the measurements ran on; None builds
        :func:`measure.generic_fabric.generic_fabric_from_records`.
    flavor
        ``"ideal"`` (alpha_s and link efficiencies) or ``"nccl"`` (NCCL's tuner: bandwidth scales
        and network latency, :mod:`measure.calibrate_nccl`).
    holdout
        A holdout spec (module docstring) or :class:`Holdout`: sizes left out of the fit.
    in_place
        False: out-of-place records; True: in-place; None: both.
    loss, f_scale_log
        The robust loss of ``least_squares`` (linear, soft_l1, huber, cauchy) and its scale in
        log time (0.1 ~ 10 %).

    Returns
    -------
    Calibration

    Raises
    ------
    ValueError
        An unknown flavor or loss, a bad holdout, no usable records, a fabric that cannot hold
        the records' ranks, or fewer fit points than parameters (the message says how many are
        needed).

    Notes
    -----
    Minimizes ``sum rho((log t_model,i - log t_measured,i)^2 / f^2)`` over x = (alpha in us,
    efficiency per link) with bounds alpha in [0, 1e4] us and efficiency in [1e-3, 1.5]
    (``least_squares(method="trf")``, Branch, Coleman & Li 1999). Link classes that no point
    loads are not fitted; one that no point depends on at the solution keeps its value with a
    NaN standard error and a note. The start is the best of a 3 x 3 grid of (alpha,
    efficiency). No per-link latency is fitted: path latencies come from the graph's
    ``latency_s`` and :class:`~collectives.model.ModelParams` has no term to carry a fitted one,
    so ``alpha_s`` absorbs the fixed cost of every step.

    Examples
    --------
    >>> from collectives.model import ModelParams, predict
    >>> G = generic_fabric(1, 8)
    >>> truth = ModelParams(alpha_s=5e-6, efficiency_by_link={"host-internal": 0.8})
    >>> recs = [Record(operation="all-reduce", size_bytes=s, num_ranks=8, num_hosts=1,
    ...                hosts=["h"] * 8, time_s=predict(G, "all-reduce", s, ranks=8,
    ...                calibration=type("C", (), {"params": truth})()).time_s)
    ...         for s in (2**10, 2**16, 2**22, 2**28)]
    >>> cal = calibrate(recs, G)
    >>> round(cal.params.alpha_s * 1e6, 2), round(cal.params.efficiency_by_link["host-internal"], 3)
    (5.0, 0.8)
    """
    if flavor == "nccl":
        from measure.calibrate_nccl import calibrate_nccl

        return calibrate_nccl(records, G, holdout=holdout, in_place=in_place, loss=loss,
                              f_scale_log=f_scale_log)
    if flavor != "ideal":
        raise ValueError(f"flavor must be 'ideal' or 'nccl', got {flavor!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if not f_scale_log > 0:
        raise ValueError(f"f_scale_log must be > 0, got {f_scale_log!r}")
    chosen = select_records(records, in_place=in_place)
    if not chosen:
        raise ValueError(
            f"no usable records among {len(records)} (need correct results, "
            f"size > 0, >= 2 ranks, {'in' if in_place else 'out-of'}-place)"
        )
    split = parse_holdout(holdout).split([r.size_bytes for r in chosen])
    fit_sizes = set(split.fitted_sizes_bytes)
    graph = generic_fabric_from_records(chosen) if G is None else G
    usable, notes = _usable(graph, [r for r in chosen if r.size_bytes in fit_sizes])
    if not usable:
        why = "; ".join(notes) or "the holdout takes every size"
        raise ValueError(f"no fit point left: {why}")
    links = sorted({str(d["link"]) for _, _, d in graph.edges(data=True)})
    problem = _Problem(graph, usable, links)
    x_probe = np.array([2.0] + [1.0] * len(links))
    fitted_links = _loaded_links(problem, x_probe)
    problem = _Problem(graph, usable, fitted_links)
    m, p = len(usable), 1 + len(fitted_links)
    if m < p:
        wanted = ", ".join(["alpha_s"] + [f"efficiency of {k}" for k in fitted_links])
        raise ValueError(
            f"calibration needs at least {p} points for {p} parameters ({wanted}); got {m}"
        )
    lower = np.array([0.0] + [_EFF_MIN] * len(fitted_links))
    upper = np.array([_ALPHA_MAX_US] + [_EFF_MAX] * len(fitted_links))
    starts = [
        np.array([a] + [e] * len(fitted_links)) for a in (1.0, 5.0, 20.0) for e in (0.3, 0.6, 1.0)
    ]
    x0 = min(starts, key=lambda x: float(np.sum(np.abs(problem.residuals(x)))))
    res = least_squares(
        problem.residuals,
        x0,
        bounds=(lower, upper),
        method="trf",
        loss=loss,
        f_scale=f_scale_log,
        x_scale=np.maximum(x0, 0.1),
    )
    x = res.x
    stderr, par_spread, res_rms = _uncertainty(problem, res.x, lower, upper, loss, f_scale_log)
    names = ["alpha_s", *fitted_links]
    if m == p:
        notes.append(f"as many points as parameters ({p}): no standard errors")
    for k in np.flatnonzero(~np.isfinite(stderr) & (m > p)):
        notes.append(
            f"{names[k]} is not determined by these points (changing it alters no fitted "
            f"time); kept at {res.x[k]:.3g}, standard error unknown"
        )
    x = res.x
    params = problem.params(x)
    times, algos = problem.times(x, with_algorithms=True)
    rel = np.abs(times / problem.measured - 1.0)
    bandwidths: dict[str, float] = {}
    for _, _, d in graph.edges(data=True):
        bandwidths.setdefault(str(d["link"]), float(d["bandwidth_bytes_per_s"]))
    return Calibration(
        params=params,
        alpha_s_stderr=float(stderr[0]) * 1e-6,
        efficiency_stderr_by_link=dict(zip(fitted_links, map(float, stderr[1:]), strict=True)),
        bandwidth_by_link_bytes_per_s={k: bandwidths[k] for k in fitted_links},
        num_points=m,
        fitted_sizes_bytes=tuple(sorted({r.size_bytes for r in usable})),
        held_out_sizes_bytes=split.held_out_sizes_bytes,
        median_relative_error=float(np.median(rel)),
        worst_relative_error=float(np.max(rel)),
        residual_log_rms=res_rms,
        parameter_log_spread=par_spread,
        graph=_describe(graph),
        fit_points=tuple(
            FitPoint(
                operation=rec.operation,
                size_bytes=rec.size_bytes,
                num_ranks=rec.num_ranks,
                num_hosts=rec.num_hosts,
                measured_time_s=rec.time_s,
                predicted_time_s=float(t),
                algorithm=a,
            )
            for rec, t, a in zip(usable, times, algos, strict=True)
        ),
        flavor=flavor,
        loss=loss,
        notes=tuple(notes),
    )


def _describe(G: nx.DiGraph) -> dict[str, Any]:
    params = {
        k: v
        for k, v in dict(G.graph.get("params", {})).items()
        if isinstance(v, (str, int, float, bool)) or v is None
    }
    return {
        "topology": str(G.graph.get("topology", "custom")),
        "params": params,
        "catalog": str(G.graph.get("catalog", "")),
    }


# -- files -----------------------------------------------------------------------------------
def save_calibration(cal: Calibration, path: str | Path) -> Path:
    """Write ``cal`` as JSON (``schema``, ``version``, then the fields), atomically.

    NaN standard errors (no degrees of freedom) are written as null.
    """
    body = {"schema": CALIBRATION_SCHEMA, "version": CALIBRATION_VERSION, **cal.to_dict()}
    return atomic_write_text(
        path, json.dumps(_nan_to_null(body), sort_keys=True, indent=2, allow_nan=False) + "\n"
    )


def _nan_to_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_null(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if value is None and key in data:
        return float("nan")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _str_floats(data: dict[str, Any], key: str) -> dict[str, float]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object of numbers, got {value!r}")
    return {str(k): _number(value, k) for k in value}


def calibration_from_dict(data: Any) -> Calibration:
    """Rebuild a :class:`Calibration` from :meth:`Calibration.to_dict` data (schema checked).

    Raises
    ------
    ValueError
        Not a calibration object, wrong schema or version, a missing or mistyped field.
    """
    if not isinstance(data, dict) or data.get("schema") != CALIBRATION_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"not a fabric calibration (schema {found!r}, expected {CALIBRATION_SCHEMA!r})"
        )
    if data.get("version") != CALIBRATION_VERSION:
        raise ValueError(
            f"calibration version {data.get('version')!r} is not supported (this "
            f"version reads {CALIBRATION_VERSION})"
        )
    try:
        p = data["params"]
        if not isinstance(p, dict):
            raise ValueError(f"params must be an object, got {p!r}")
        params = ModelParams(
            alpha_s=_number(p, "alpha_s"),
            efficiency_by_link=_str_floats(p, "efficiency_by_link"),
            default_efficiency=_number(p, "default_efficiency"),
        )
        points = data.get("fit_points", [])
        if not isinstance(points, list) or not all(isinstance(q, dict) for q in points):
            raise ValueError("fit_points must be a list of objects")
        sizes = {k: data.get(k) for k in ("fitted_sizes_bytes", "held_out_sizes_bytes")}
        for k, v in sizes.items():
            if not isinstance(v, list) or not all(isinstance(s, int) for s in v):
                raise ValueError(f"{k} must be a list of integers")
        graph = data.get("graph")
        if not isinstance(graph, dict):
            raise ValueError(f"graph must be an object, got {graph!r}")
        notes = data.get("notes", [])
        if not isinstance(notes, list):
            raise ValueError("notes must be a list")
        return Calibration(
            params=params,
            alpha_s_stderr=_number(data, "alpha_s_stderr"),
            efficiency_stderr_by_link=_str_floats(data, "efficiency_stderr_by_link"),
            bandwidth_by_link_bytes_per_s=_str_floats(data, "bandwidth_by_link_bytes_per_s"),
            num_points=data.get("num_points"),  # type: ignore[arg-type]
            fitted_sizes_bytes=tuple(sizes["fitted_sizes_bytes"] or ()),
            held_out_sizes_bytes=tuple(sizes["held_out_sizes_bytes"] or ()),
            median_relative_error=_number(data, "median_relative_error"),
            worst_relative_error=_number(data, "worst_relative_error"),
            residual_log_rms=_number(data, "residual_log_rms"),
            parameter_log_spread=_number(data, "parameter_log_spread"),
            graph=graph,
            fit_points=tuple(FitPoint(**q) for q in points),
            flavor=str(data.get("flavor", "ideal")),
            loss=str(data.get("loss", "soft_l1")),
            notes=tuple(str(n) for n in notes),
            nccl=_str_floats(data, "nccl") if "nccl" in data else {},
            nccl_stderr=_str_floats(data, "nccl_stderr") if "nccl_stderr" in data else {},
            nccl_version=str(data.get("nccl_version", "")),
        )
    except KeyError as err:
        raise ValueError(f"calibration is missing {err.args[0]!r}") from err
    except TypeError as err:
        raise ValueError(f"bad calibration field: {err}") from err


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration file written by :func:`save_calibration`.

    Raises
    ------
    ValueError
        One line starting with the path: missing or unreadable file, not JSON, not a
        calibration (schema), an unsupported version, or a bad field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(
            f"cannot read calibration file {str(path)!r}: {err.strerror or err}"
        ) from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a calibration file (not UTF-8 text)") from err
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        where = f" at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise ValueError(f"{path}: not a calibration file (invalid JSON{where})") from err
    try:
        return calibration_from_dict(data)
    except ValueError as err:
        message = str(err).splitlines()[0] if str(err) else "bad calibration"
        raise ValueError(f"{path}: {message}") from err


_VALIDATION_NAMES = ("ValidationPoint", "ValidationReport", "validate")


def __getattr__(name: str) -> Any:
    """Re-export :mod:`measure.validate`'s names, imported on first use (no import cycle)."""
    if name in _VALIDATION_NAMES:
        from measure import validate as _validation

        return getattr(_validation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
