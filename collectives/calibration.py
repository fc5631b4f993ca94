"""What the collective model reads from a calibration: a protocol, and the ideal parameters.

A calibration (``measure``'s fitted ``Calibration``, a user's own object, or
:class:`StaticCalibration` for parameters set by hand) reaches the model only through
:class:`ModelCalibration`; :func:`check_calibration` refuses anything else with a ValueError that
names what is missing. The model never guesses at attributes.

Members of the protocol, read-only:

``flavor``
    ``ideal``, ``nccl`` or ``mpi``: the flavor the values were fitted for (predicting with
    another one is refused). ``mpi`` is the ideal flow model fitted to MPI measurements (OSU,
    IMB, mpi4py): the same ``params``.
``params``
    :class:`ModelParams`, the ideal flavor's fitted parameters.
``nccl``
    The nccl flavor's fitted values (``bw_intra_scale``, ``bw_inter_scale``, ``net_latency_s``,
    ``latency_scale``: :data:`collectives.nccl_bridge.NCCL_PARAMETERS`); empty for ``ideal``.
``nccl_version``
    The NCCL release the nccl values were fitted with, ``""`` when not nccl.
``band(time_s)``
    ``(low_s, high_s)``: the error band around a predicted time.

A calibration may also be a :class:`CorrectingCalibration`: it then corrects each predicted
time (``correct_time``: regimes of the curve, or a plain alpha-beta fit that did better) and
gives a band that knows where it was fitted (``scoped_band``: wider outside the fitted sizes,
rank counts and link classes, and for an algorithm no fit point ran), and names the link
classes it never measured (``unmeasured_link_classes``).
:func:`collectives.predict.predict_many` applies both, so every caller (predict, compare,
report, kv) gets them.

>>> cal = StaticCalibration(params=ModelParams(alpha_s=5e-6))
>>> isinstance(cal, ModelCalibration), cal.band(1.0)
(True, (1.0, 1.0))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "FLAVORS",
    "ModelParams",
    "ModelCalibration",
    "CorrectingCalibration",
    "StaticCalibration",
    "check_calibration",
    "ALGORITHM_SETS",
]

#: The model's flavors: ``ideal`` (alpha-beta on the flow model), ``nccl`` (NCCL's tuner) and
#: ``mpi`` (the flow model fitted to MPI measurements).
FLAVORS: tuple[str, ...] = ("ideal", "nccl", "mpi")

#: Which algorithms the ideal flavor picks from when none is named: ``all`` (every algorithm
#: of :data:`collectives.registry.ALGORITHMS` that applies: what the fabric allows) or ``nccl``
#: (NCCL's own: ring, tree, direct, hierarchical, PAT; what an NCCL-measured run could have used).
ALGORITHM_SETS: tuple[str, ...] = ("all", "nccl")

_MEMBERS = ("flavor", "params", "nccl", "nccl_version", "band")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelParams:
    """Parameters of the ideal flavor (calibration fits them).

    ``alpha_s`` is the software cost of one algorithm step (message setup, synchronization),
    on top of the path's cable and switch latency. ``efficiency_by_link`` scales the capacity of
    every edge whose ``link`` is the key (what fraction of the line rate a transfer achieves); a
    key that is a link class of :mod:`fabric.links` (``host-internal``, ``network`` and their
    aliases) applies to that class's edges whose own link type has no entry.
    ``algorithm_set`` (:data:`ALGORITHM_SETS`) is what the fastest-algorithm choice picks from:
    a calibration fitted to NCCL runs records ``nccl``, so its predictions choose among the
    algorithms those runs could have used.
    """

    alpha_s: float = 2.0e-6
    efficiency_by_link: dict[str, float] = field(default_factory=dict)
    default_efficiency: float = 1.0
    algorithm_set: str = "all"

    def __post_init__(self) -> None:
        if not self.alpha_s >= 0:
            raise ValueError(f"alpha_s must be >= 0, got {self.alpha_s!r}")
        if self.algorithm_set not in ALGORITHM_SETS:
            raise ValueError(f"algorithm_set must be one of {', '.join(ALGORITHM_SETS)}, got "
                             f"{self.algorithm_set!r}")
        for key, value in {**self.efficiency_by_link, "default": self.default_efficiency}.items():
            if not 0 < value <= 1.5:
                raise ValueError(f"efficiency for {key!r} must be in (0, 1.5], got {value!r}")


@runtime_checkable
class ModelCalibration(Protocol):
    """What the model reads from a calibration (see the module docstring).

    The members are read-only properties, so frozen dataclasses conform.
    """

    @property
    def flavor(self) -> str:
        """``ideal`` or ``nccl``."""
        ...

    @property
    def params(self) -> ModelParams:
        """The ideal flavor's fitted parameters."""
        ...

    @property
    def nccl(self) -> Mapping[str, float]:
        """The nccl flavor's fitted values (empty for ``ideal``)."""
        ...

    @property
    def nccl_version(self) -> str:
        """The NCCL release of the nccl values, ``""`` when not nccl."""
        ...

    def band(self, time_s: float) -> tuple[float, float]:
        """(low, high) bounds of a predicted time in seconds."""
        ...


@runtime_checkable
class CorrectingCalibration(ModelCalibration, Protocol):
    """A calibration that corrects the model's time and scopes its band (module docstring)."""

    def correct_time(self, *, collective: str, size_bytes: int, num_ranks: int, time_s: float,
                     latency_s: float) -> float:
        """The corrected time of a model time ``time_s`` (``latency_s`` of it is latency)."""
        ...

    def scoped_band(self, time_s: float, *, size_bytes: int, num_ranks: int,
                    link_classes: Sequence[str], collective: str | None = None,
                    algorithm: str | None = None) -> tuple[float, float]:
        """(low, high) of a time, widened outside the fitted sizes, ranks and link classes,
        and for an algorithm of ``collective`` that no fit point ran."""
        ...

    def unmeasured_link_classes(self, link_classes: Sequence[str]) -> tuple[str, ...]:
        """Those of ``link_classes`` (``host-internal``, ``network``) no fit point loaded."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticCalibration:
    """A calibration given by hand: fixed values and no error band (``band(t) == (t, t)``).

    Raises
    ------
    ValueError
        Unknown flavor, ``params`` not a :class:`ModelParams`, a non-finite nccl value, nccl
        values or an NCCL version on the ideal flavor.
    """

    flavor: str = "ideal"
    params: ModelParams = field(default_factory=ModelParams)
    nccl: Mapping[str, float] = field(default_factory=dict)
    nccl_version: str = ""

    def __post_init__(self) -> None:
        if self.flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, got {self.flavor!r}")
        if not isinstance(self.params, ModelParams):
            raise ValueError(f"params must be a ModelParams, got {type(self.params).__name__}")
        for key, value in self.nccl.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"nccl value {key!r} must be a finite number, got {value!r}")
        if self.flavor != "nccl" and (self.nccl or self.nccl_version):
            raise ValueError("nccl values and nccl_version apply only to flavor='nccl'")

    def band(self, time_s: float) -> tuple[float, float]:
        """No error band: ``(time_s, time_s)``."""
        return (time_s, time_s)


def check_calibration(calibration: object, *, flavor: str) -> ModelCalibration | None:
    """``calibration`` checked against :class:`ModelCalibration` and ``flavor``; None stays None.

    Raises
    ------
    ValueError
        If ``calibration`` lacks a member of the protocol or a member has the wrong type, or it
        was fitted for the other flavor.
    """
    if calibration is None:
        return None
    if not isinstance(calibration, ModelCalibration):
        missing = [m for m in _MEMBERS if not hasattr(calibration, m)]
        raise ValueError(
            f"calibration must provide {', '.join(_MEMBERS)} "
            f"(collectives.calibration.ModelCalibration); a {type(calibration).__name__} lacks "
            f"{', '.join(missing)}"
        )
    fitted_for = calibration.flavor
    if fitted_for not in FLAVORS:
        raise ValueError(
            f"calibration.flavor must be one of {', '.join(FLAVORS)}, got {fitted_for!r}"
        )
    if not isinstance(calibration.params, ModelParams):
        raise ValueError(
            f"calibration.params must be a ModelParams, got {type(calibration.params).__name__}"
        )
    if not isinstance(calibration.nccl, Mapping):
        raise ValueError(
            f"calibration.nccl must be a mapping, got {type(calibration.nccl).__name__}"
        )
    if not isinstance(calibration.nccl_version, str):
        raise ValueError(
            f"calibration.nccl_version must be a str, got {calibration.nccl_version!r}"
        )
    if not callable(calibration.band):
        raise ValueError("calibration.band must be callable: band(time_s) -> (low_s, high_s)")
    if fitted_for != flavor:
        raise ValueError(
            f"the calibration was fitted for the {fitted_for} flavor; predict with "
            f"--flavor {fitted_for} (or calibrate with --flavor {flavor})"
        )
    return calibration
