"""The result of a calibration and its file: :class:`Calibration`, saved and loaded as JSON.

A :class:`Calibration` is what :func:`measure.calibrate.calibrate` returns for either flavor:
the fitted model parameters (``params`` for the ideal flavor, ``nccl`` for the NCCL flavor),
their standard errors, the fit's error and what it was fitted on. It is what the model reads
(``predict(..., calibration=cal)``), through the members of
:class:`collectives.calibration.ModelCalibration`: ``flavor``, ``params``, ``nccl``,
``nccl_version`` and :meth:`Calibration.band`.

A calibration may carry two corrections fitted on the same points after the flavor's own
parameters (:func:`measure.calibrate.calibrate` fits both): ``regimes``
(:mod:`measure.fit_regimes`, piecewise latency and bandwidth factors on the model) and
``naive_fits`` (:mod:`measure.fit_naive`, the plain alpha-beta fit). ``chosen_fit`` says which
one predicts (``model``: the model with its regimes; ``naive``: alpha-beta, for the collectives
and rank counts it was fitted on), chosen by leave-one-out error on the fit points
(``model_cv_error``, ``naive_cv_error``). :meth:`Calibration.correct_time` applies it and
:meth:`Calibration.scoped_band` widens the band away from the fitted sizes (outside them or in a
gap between them), outside the fitted rank counts, for unmeasured link classes and for an
algorithm no fit point ran; both are
members of :class:`collectives.calibration.CorrectingCalibration`, which
:func:`collectives.predict.predict_many` applies.

The file is JSON: ``schema`` (:data:`CALIBRATION_SCHEMA`), ``version``
(:data:`CALIBRATION_VERSION`), then :meth:`Calibration.to_dict`'s fields, sorted, with NaN
written as null. :func:`save_calibration` writes it atomically; :func:`load_calibration` and
:func:`calibration_from_dict` check the schema, the version and every field's type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx

from collectives.calibration import ALGORITHM_SETS, ModelParams
from fabric.fileio import atomic_write_text
from fabric.links import HOST_LINK, NETWORK_LINK, SCALEOUT_CLASSES, SCALEUP_CLASSES
from measure.fit_naive import NaiveFit, naive_time
from measure.fit_regimes import Regime, regime_time

__all__ = [
    "CALIBRATION_SCHEMA",
    "CALIBRATION_VERSION",
    "Band",
    "CHOSEN_FITS",
    "SIZE_WIDENING_PER_OCTAVE",
    "RANKS_WIDENING_PER_OCTAVE",
    "UNMEASURED_LINK_WIDENING",
    "UNSEEN_ALGORITHM_WIDENING",
    "NO_EVIDENCE_LOG_HALFWIDTH",
    "NO_EVIDENCE_RESIDUAL_LOG_RMS",
    "residual_log_rms_of",
    "FitPoint",
    "Calibration",
    "describe_graph",
    "save_calibration",
    "load_calibration",
    "calibration_from_dict",
]

CALIBRATION_SCHEMA = "fabric-calibration"
CALIBRATION_VERSION = 1

#: Which fit predicts: the model with its regimes, or the plain alpha-beta fit.
CHOSEN_FITS = ("model", "naive")
#: Band widening (log half-width) per factor of 2 away from the nearest fitted size, per factor
#: of 2 outside the fitted rank counts, and per link class never measured (its default was
#: used). Stated assumptions, not fitted: a size 2x from a measured one adds about 10 %,
#: outside the fitted sizes or in a gap between them alike. A protocol or algorithm switch can
#: hide in a gap: on the repository's public logs fitted on sizes <= 1 MiB and >= 256 MiB, the
#: middle sizes (1-4 octaves from a fitted one) are 14-18 % off in the median, about 0.05 per
#: octave, and the band is twice the typical error, as the fit's own is twice its leave-one-out
#: spread (``benchmarks/accuracy.py`` prints how many held-out points the band holds). A rank
#: count 2x outside adds about 15 % (algorithm and protocol choices change with the rank
#: count); an unmeasured link class's default bandwidth may be off by 2x (issue 10: a 1-node
#: calibration used 50 GB/s against a system's 12.5).
SIZE_WIDENING_PER_OCTAVE = 0.10
RANKS_WIDENING_PER_OCTAVE = 0.15
UNMEASURED_LINK_WIDENING = math.log(2.0)
#: Band widening (log half-width) where the model picks an algorithm (under the nccl flavor,
#: an algorithm and protocol: ``Ring/LL128``) that no fit point of the collective ran: its
#: latency and bandwidth were never measured, only carried from the ones that were. On the
#: public logs fitted on sizes <= 1 MiB and >= 256 MiB (nccl flavor, 2026-12-05), the middle
#: sizes where the tuner picks such a protocol are 0.24 off in log time (median, 19 points)
#: against 0.14 for the middle sizes that run a fitted one (31 points): 0.19 more in
#: quadrature, and the band is twice the typical error, so about log 1.5. A stated assumption
#: drawn from those logs, not fitted per calibration.
UNSEEN_ALGORITHM_WIDENING = math.log(1.5)
#: The band's log half-width when the fit measured nothing of its own error (as many points
#: as parameters: residual and parameter spreads both 0). An exact fit of two points says
#: nothing about a third, so it gets the band of a prediction no fit point checked (the
#: widening above), not x1.000.
NO_EVIDENCE_LOG_HALFWIDTH = UNSEEN_ALGORITHM_WIDENING
#: The ``residual_log_rms`` a fit with no degrees of freedom records (the band is twice it).
NO_EVIDENCE_RESIDUAL_LOG_RMS = NO_EVIDENCE_LOG_HALFWIDTH / 2


def residual_log_rms_of(num_points: int, num_parameters: int, rms: float) -> float:
    """The residual spread a calibration records: ``rms`` when the fit had points to spare,
    :data:`NO_EVIDENCE_RESIDUAL_LOG_RMS` when it had as many parameters as points (its
    residuals are 0 by construction and say nothing of its error).

    >>> residual_log_rms_of(10, 2, 0.05), round(residual_log_rms_of(2, 2, 0.0), 4)
    (0.05, 0.2027)
    """
    return rms if num_points > num_parameters else NO_EVIDENCE_RESIDUAL_LOG_RMS


def _octaves_outside(value: float, values: Sequence[float]) -> float:
    """Octaves (factors of 2) from ``value`` to the nearest of ``values`` outside their range,
    0 inside it."""
    if not values or value <= 0:
        return 0.0
    low, high = min(values), max(values)
    if value < low:
        return math.log2(low / value)
    if value > high:
        return math.log2(value / high)
    return 0.0


def _octaves_away(value: float, values: Sequence[float]) -> float:
    """Octaves (factors of 2) from ``value`` to the nearest of ``values`` (0 if none, or at one
    of them)."""
    if not values or value <= 0:
        return 0.0
    return min(abs(math.log2(value / v)) for v in values if v > 0)


def _link_class(name: str) -> str:
    if name in SCALEUP_CLASSES:
        return HOST_LINK
    if name in SCALEOUT_CLASSES:
        return NETWORK_LINK
    return name


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

    ``flavor`` says which parameters were fitted: ``"ideal"`` fits ``params`` (``alpha_s`` and
    one efficiency per link class, :mod:`measure.fit_ideal`); ``"nccl"`` fits ``nccl`` (NCCL's
    bandwidth scales and latencies, :mod:`measure.calibrate_nccl`, with ``nccl_version`` the
    constants' version) and leaves ``params`` neutral. Standard errors come
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
    regimes: tuple[Regime, ...] = ()
    naive_fits: tuple[NaiveFit, ...] = ()
    chosen_fit: str = "model"
    model_cv_error: float = math.nan
    naive_cv_error: float = math.nan

    def __post_init__(self) -> None:
        if self.chosen_fit not in CHOSEN_FITS:
            raise ValueError(f"chosen_fit must be one of {', '.join(CHOSEN_FITS)}, got "
                             f"{self.chosen_fit!r}")
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
        """h = 2 sqrt(residual_log_rms^2 + parameter_log_spread^2) (about 95 % if log-normal;
        :data:`NO_EVIDENCE_LOG_HALFWIDTH` for a fit with no degrees of freedom left,
        :func:`residual_log_rms_of`)."""
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

    @property
    def fitted_num_ranks(self) -> tuple[int, ...]:
        """The rank counts of the fit points, ascending."""
        return tuple(sorted({p.num_ranks for p in self.fit_points}))

    @property
    def measured_link_classes(self) -> tuple[str, ...]:
        """Link classes some fit point loaded: ``host-internal`` (two ranks on one host),
        ``network`` (more than one host)."""
        out = set()
        for p in self.fit_points:
            if p.num_ranks > p.num_hosts:
                out.add(HOST_LINK)
            if p.num_hosts > 1:
                out.add(NETWORK_LINK)
        return tuple(sorted(out))

    def unmeasured_link_classes(self, link_classes: Sequence[str]) -> tuple[str, ...]:
        """Those of ``link_classes`` that no fit point loaded (their defaults are used)."""
        if not self.fit_points:
            return ()
        measured = set(self.measured_link_classes)
        wanted = dict.fromkeys(_link_class(c) for c in link_classes)
        return tuple(c for c in wanted if c not in measured)

    def correct_time(self, *, collective: str, size_bytes: int, num_ranks: int, time_s: float,
                     latency_s: float) -> float:
        """The chosen fit's time for a model time ``time_s`` with latency part ``latency_s``.

        ``chosen_fit == "naive"``: the alpha-beta fit of this collective and rank count when
        there is one; otherwise (and for ``model``) the regime holding ``size_bytes`` corrects
        the model's time (:meth:`measure.fit_regimes.Regime.time_s`).
        """
        if self.chosen_fit == "naive":
            t = naive_time(self.naive_fits, collective, num_ranks, size_bytes)
            if t is not None and t > 0:
                return t
        return regime_time(self.regimes, collective, size_bytes, time_s, latency_s)

    def unseen_algorithm(self, collective: str | None, algorithm: str | None) -> bool:
        """Whether ``algorithm`` (as :attr:`collectives.results.Prediction.algorithm_label`
        gives it) of ``collective`` is one that no fit point ran (False when either is not
        given, or the calibration keeps no fit points)."""
        if not collective or not algorithm or not self.fit_points:
            return False
        return (collective, algorithm) not in {(p.operation, p.algorithm)
                                               for p in self.fit_points}

    def scoped_log_halfwidth(self, *, size_bytes: int, num_ranks: int,
                             link_classes: Sequence[str], collective: str | None = None,
                             algorithm: str | None = None) -> float:
        """The band's log half-width at a point: :attr:`band_log_halfwidth` widened outside
        the fit.

        ``sqrt(h^2 + (w_s o_s)^2 + (w_r o_r)^2 + (w_l n_l)^2 + (w_a u_a)^2)`` with o_s the
        octaves (factors of 2) to the nearest fitted size (outside the fitted sizes or in a gap
        between them), o_r the octaves outside the fitted rank counts, n_l the link classes
        never measured, u_a 1 if ``algorithm`` of ``collective`` is one no fit point ran
        (:meth:`unseen_algorithm`), and the w's :data:`SIZE_WIDENING_PER_OCTAVE`,
        :data:`RANKS_WIDENING_PER_OCTAVE`, :data:`UNMEASURED_LINK_WIDENING`,
        :data:`UNSEEN_ALGORITHM_WIDENING`.
        """
        o_s = _octaves_away(size_bytes, self.fitted_sizes_bytes)
        o_r = _octaves_outside(num_ranks, self.fitted_num_ranks)
        n_l = len(self.unmeasured_link_classes(link_classes))
        u_a = 1.0 if self.unseen_algorithm(collective, algorithm) else 0.0
        return math.sqrt(self.band_log_halfwidth**2 + (SIZE_WIDENING_PER_OCTAVE * o_s) ** 2
                         + (RANKS_WIDENING_PER_OCTAVE * o_r) ** 2
                         + (UNMEASURED_LINK_WIDENING * n_l) ** 2
                         + (UNSEEN_ALGORITHM_WIDENING * u_a) ** 2)

    def scoped_band(self, time_s: float, *, size_bytes: int, num_ranks: int,
                    link_classes: Sequence[str], collective: str | None = None,
                    algorithm: str | None = None) -> Band:
        """Error band of a predicted time at a point (:meth:`scoped_log_halfwidth`)."""
        h = self.scoped_log_halfwidth(size_bytes=size_bytes, num_ranks=num_ranks,
                                      link_classes=link_classes, collective=collective,
                                      algorithm=algorithm)
        return Band(time_s * math.exp(-h), time_s * math.exp(h))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (the saved file's body)."""
        out = asdict(self)
        out["regimes"] = [asdict(r) for r in self.regimes]
        out["naive_fits"] = [asdict(f) for f in self.naive_fits]
        out["fitted_sizes_bytes"] = list(self.fitted_sizes_bytes)
        out["held_out_sizes_bytes"] = list(self.held_out_sizes_bytes)
        out["fit_points"] = [asdict(p) for p in self.fit_points]
        out["notes"] = list(self.notes)
        return out


def describe_graph(G: nx.DiGraph) -> dict[str, Any]:
    """What a calibration records of its fabric: topology, scalar builder parameters, catalog."""
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


def _algorithm_set(params: dict[str, Any]) -> str:
    """The params' ``algorithm_set``; files written before it existed choose among all."""
    value = params.get("algorithm_set", "all")
    if value not in ALGORITHM_SETS:
        raise ValueError(f"params.algorithm_set must be one of {', '.join(ALGORITHM_SETS)}, "
                         f"got {value!r}")
    return str(value)


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


def _objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(q, dict) for q in value):
        raise ValueError(f"{key} must be a list of objects")
    return value


def _nulls_to_nan(q: dict[str, Any]) -> dict[str, Any]:
    return {k: (math.nan if v is None and k.endswith("stderr") else v) for k, v in q.items()}


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
            algorithm_set=_algorithm_set(p),
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
            regimes=tuple(Regime(**_nulls_to_nan(q)) for q in _objects(data, "regimes")),
            naive_fits=tuple(NaiveFit(**_nulls_to_nan(q)) for q in _objects(data, "naive_fits")),
            chosen_fit=str(data.get("chosen_fit", "model")),
            model_cv_error=_number(data, "model_cv_error") if "model_cv_error" in data
            else math.nan,
            naive_cv_error=_number(data, "naive_cv_error") if "naive_cv_error" in data
            else math.nan,
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

