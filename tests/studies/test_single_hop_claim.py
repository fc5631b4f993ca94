"""The single-hop claim as a break-even study (issue 15): what a single-hop port may cost and
draw for the claimed 40% capex and 70% power cuts, checked against the bill of materials."""

from __future__ import annotations

import math

import pytest

from fabric.catalog import default_catalog
from studies.single_hop_claim import single_hop_claim


@pytest.fixture(scope="module")
def row():
    (found,) = single_hop_claim([1024])
    return found


def test_at_the_break_even_port_cost_the_cut_is_exactly_the_claim(row) -> None:
    best = row.best_baseline
    assert best is not None and best.family == "rail-optimized"  # 1,024 GPUs: fat-tree k=16
    (priced,) = single_hop_claim([1024], port_cost_usd=row.breakeven_port_cost_usd,
                                 port_power_w=max(row.breakeven_port_power_w, 0.0))
    assert priced.single_hop_network_cost_per_gpu_usd == pytest.approx(
        (1 - row.cost_cut) * best.network_cost_per_gpu_usd, rel=1e-9)
    # the break-even does not depend on the price the single-hop ports were given
    assert priced.breakeven_port_cost_usd == pytest.approx(row.breakeven_port_cost_usd)
    assert priced.breakeven_port_power_w == pytest.approx(row.breakeven_port_power_w)


def test_today_per_port_cost_gives_the_capex_cut_but_not_the_power_cut(row) -> None:
    # One QM9700 port (its price over its 64 ports) is below the break-even: the capex claim
    # holds if a single-hop port costs what a leaf port does now.
    qm9700 = default_catalog().switches["qm9700"]
    assert row.port_cost_usd == pytest.approx(qm9700.cost_usd / qm9700.radix)
    assert row.cost_claim_holds and row.breakeven_port_cost_usd > row.port_cost_usd
    # The GPU side alone (NIC, its optics, the switch-end optics) draws more than 30% of the
    # cheapest baseline's network power: no single-hop port power reaches a 70% cut.
    best = row.best_baseline
    other_w = row.single_hop_network_power_per_gpu_w - row.port_power_w
    assert other_w > (1 - row.power_cut) * best.network_power_per_gpu_w
    assert row.breakeven_port_power_w < 0 and not row.power_claim_holds


def test_a_baseline_that_cannot_be_built_is_reported_not_fatal() -> None:
    (r,) = single_hop_claim([1024], baselines=("fat-tree", "single-hop"), switch="qm9700")
    failed = [b for b in r.baselines if b.error]
    assert [b.family for b in failed] == ["single-hop"]  # 1,024 GPUs on a radix-64 switch
    assert math.isnan(failed[0].network_cost_per_gpu_usd)
    assert r.best_baseline.family == "fat-tree"


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(switch="nope"), "unknown switch 'nope'"),
    (dict(cost_cut=1.0), "the claimed cost cut must be in"),
    (dict(port_cost_usd=-1.0), "must be >= 0"),
])
def test_bad_values_are_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        single_hop_claim([64], **kwargs)


def test_collective_times_are_those_of_each_fabric_built_alone() -> None:
    """The study's times are the model's predictions on each fabric over the requested GPUs
    (a fat-tree built larger runs them on 1,024 of its GPUs), recomputed here independently."""
    import topologies
    from collectives.predict import predict_many

    (r,) = single_hop_claim([1024], collectives=("all-reduce", "all-to-all"),
                            size_bytes=64 << 20)
    assert r.size_bytes == 64 << 20
    by_family = {b.family: dict(b.times_s) for b in r.baselines}
    G = topologies.build("rail-optimized", num_nodes=128)
    for coll in ("all-reduce", "all-to-all"):
        (want,) = predict_many(G, coll, [64 << 20])
        assert by_family["rail-optimized"][coll] == pytest.approx(want.time_s, rel=1e-12)
        assert by_family["fat-tree"][coll] > 0 and dict(r.single_hop_times_s)[coll] > 0
    # one hop to every peer: the single-hop all-to-all is no slower than either baseline's
    hop = dict(r.single_hop_times_s)["all-to-all"]
    assert hop <= min(t["all-to-all"] for t in by_family.values()) * (1 + 1e-9)
