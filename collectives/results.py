"""What the collective model answers: named results, the same for every flavor.

Quantities follow nccl-tests (NVIDIA/nccl-tests ``doc/PERFORMANCE.md``): ``algbw = size / time``
and ``busbw = algbw x`` the collective's bus-bandwidth factor (:mod:`collectives.names`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Prediction", "AlgorithmCost"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """A predicted collective: nccl-tests quantities plus why.

    ``bound_ratio`` is time over the bandwidth-optimal lower bound (bytes that must leave each
    GPU and each scale-up domain over their links, no latency: :mod:`collectives.bounds`);
    ``time_low_s`` / ``time_high_s`` bound the prediction when a calibration gives an error band
    (equal to ``time_s`` otherwise). ``routing`` is the flow model's routing policy
    (:data:`fabric.routing.ROUTING_POLICIES`); under ``ecmp-hash`` ``time_s`` is the mean over
    hash seeds and ``time_p99_s`` their 99th percentile (None: the flavor has no routing
    spread; equal to ``time_s`` for a deterministic policy).
    """

    collective: str
    size_bytes: int
    num_ranks: int
    num_domains: int
    time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    algorithm: str
    protocol: str
    flavor: str
    latency_s: float
    bottleneck: str
    bottleneck_utilization: float
    bound_ratio: float
    bytes_sent_per_rank: float
    time_low_s: float
    time_high_s: float
    routing: str = "ecmp-ideal"
    time_p99_s: float | None = None

    @property
    def algorithm_label(self) -> str:
        """The algorithm as a calibration's fit points record it: ``Ring/LL128`` under the
        nccl flavor (NCCL's algorithm and protocol, both chosen per size by its tuner), the
        algorithm's name under the others (``ring``)."""
        if self.flavor.startswith("nccl") and self.protocol:
            return f"{self.algorithm}/{self.protocol}"
        return self.algorithm


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmCost:
    """``time(S) = latency_s + seconds_per_byte * S`` for one algorithm on one placement.

    ``bottleneck`` names the edge whose load sets the largest share of ``seconds_per_byte``;
    ``bytes_sent_per_rank_per_byte`` is what one rank sends (on average) per byte of S.
    """

    algorithm: str
    latency_s: float
    seconds_per_byte: float
    bottleneck: str
    bytes_sent_per_rank_per_byte: float
