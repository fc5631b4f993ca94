"""Shared probe pieces: nccl-tests buffer sizes, iteration plans, statistics, expected values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from measure.probe_core import (
    CORRUPT_ENV,
    OPERATIONS,
    IterationPlan,
    RankTiming,
    bound_iterations,
    buffer_layout,
    check_probe_arguments,
    collect_env,
    combine_timings,
    corrupting_rank,
    count_wrong,
    expected_values,
    fill_values,
    host_layout,
    make_record,
    memory_per_rank_bytes,
    memory_problem,
    parse_operations,
    ping_pong_pairs,
    pinned_algorithm,
    plan_iterations,
    rank_timing,
)

# nccl-tests src/*.cu GetCollByteCount (classic form): count = size / itemsize;
# all-gather sends count/n and receives (count/n)*n; reduce-scatter the reverse;
# all-to-all (count/n)*n both ways; all-reduce / broadcast / send-recv count both ways.
LAYOUTS = [
    ("all-reduce", 100, 3, 4, 25, 25, 100),
    ("broadcast", 100, 3, 4, 25, 25, 100),
    ("send-recv", 8, 2, 4, 2, 2, 8),
    ("all-gather", 100, 3, 4, 8, 24, 96),
    ("reduce-scatter", 100, 3, 4, 24, 8, 96),
    ("all-to-all", 100, 3, 4, 24, 24, 96),
    ("all-gather", 1 << 20, 8, 4, 32768, 262144, 1 << 20),
    ("all-to-all", 8, 4, 4, 0, 0, 0),
]


@pytest.mark.parametrize(("op", "size", "n", "itemsize", "send", "recv", "measured"), LAYOUTS)
def test_buffer_layout_follows_nccl_tests(op, size, n, itemsize, send, recv, measured) -> None:
    layout = buffer_layout(op, size, num_ranks=n, itemsize=itemsize)
    assert (layout.send_count, layout.recv_count, layout.size_bytes) == (send, recv, measured)


@pytest.mark.parametrize("bad", [{"size_bytes": -1}, {"num_ranks": 0}, {"itemsize": 0}])
def test_buffer_layout_rejects(bad) -> None:
    args = {"size_bytes": 64, "num_ranks": 2, "itemsize": 4} | bad
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        buffer_layout("all-reduce", args["size_bytes"], num_ranks=args["num_ranks"],
                      itemsize=args["itemsize"])


def _simulate(op: str, n: int, layout, dtype: str) -> list[np.ndarray]:
    """What each rank receives, computed from the contributions with plain numpy."""
    send = [fill_values(r, layout.send_count, dtype) for r in range(n)]
    if op == "all-reduce":
        return [np.sum(send, axis=0)] * n
    if op == "broadcast":
        return [send[0]] * n
    if op == "all-gather":
        return [np.concatenate(send)] * n
    if op == "reduce-scatter":
        return list(np.split(np.sum(send, axis=0), n))
    blocks = [np.split(s, n) for s in send]  # all-to-all: rank k gets block k of everyone
    return [np.concatenate([blocks[r][k] for r in range(n)]) for k in range(n)]


@pytest.mark.parametrize("op", [o for o in OPERATIONS if o != "send-recv"])
@pytest.mark.parametrize("n", [1, 2, 3, 8])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_expected_values_match_a_simulation(op: str, n: int, dtype: str) -> None:
    layout = buffer_layout(op, 4096, num_ranks=n, itemsize=np.dtype(dtype).itemsize)
    for rank, received in enumerate(_simulate(op, n, layout, dtype)):
        expected = expected_values(op, rank=rank, layout=layout, dtype=dtype)
        assert received.shape == expected.shape
        assert count_wrong(received, expected) == 0


def test_corruption_is_detected() -> None:
    layout = buffer_layout("all-reduce", 64, num_ranks=2, itemsize=4)
    sent = [fill_values(0, 16, "float32"), fill_values(1, 16, "float32", corrupt=True)]
    assert count_wrong(np.sum(sent, axis=0), expected_values("all-reduce", rank=0, layout=layout,
                                                           dtype="float32")) == 1


def test_send_recv_expects_the_peer() -> None:
    layout = buffer_layout("send-recv", 16, num_ranks=2, itemsize=4)
    assert expected_values("send-recv", rank=0, layout=layout, dtype="int32", peer=1).tolist() == [
        2, 3, 4, 5]
    with pytest.raises(ValueError, match="peer"):
        expected_values("send-recv", rank=0, layout=layout, dtype="int32")


def test_count_wrong_on_shape_mismatch() -> None:
    assert count_wrong(np.zeros(3), np.zeros(5)) == 5


@pytest.mark.parametrize(
    ("size", "iterations", "warmup"),
    [(8, 200, 20), (1 << 20, 200, 20), (4 << 20, 64, 6), (64 << 20, 5, 2), (1 << 30, 5, 2)],
)
def test_plan_scales_with_size(size: int, iterations: int, warmup: int) -> None:
    # clamp(256 MiB / size, 5, 200) and clamp(iterations // 10, 2, 20), the documented rule
    assert plan_iterations(size) == IterationPlan(iterations=iterations, warmup=warmup)


def test_plan_keeps_given_counts_and_validates() -> None:
    assert plan_iterations(8, iterations=3, warmup=0) == IterationPlan(iterations=3, warmup=0)
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        plan_iterations(8, iterations=0)


@pytest.mark.parametrize(
    ("per_iteration_s", "expected"), [(0.001, 200), (0.02, 50), (0.5, 5), (float("nan"), 200)])
def test_bound_iterations(per_iteration_s: float, expected: int) -> None:
    plan = IterationPlan(iterations=200, warmup=20)
    assert bound_iterations(plan, per_iteration_s, 1.0).iterations == expected


def test_statistics_median_then_max_over_ranks() -> None:
    ranks = [rank_timing([1.0, 5.0, 2.0]), rank_timing([3.0, 3.5, 4.0, 10.0]), rank_timing([0.5])]
    assert [r.median_s for r in ranks] == [2.0, 3.75, 0.5]
    assert [r.mean_s for r in ranks] == [8.0 / 3.0, 5.125, 0.5]
    timing = combine_timings(ranks)
    assert (timing.time_s, timing.time_min_s, timing.time_max_s) == (3.75, 0.5, 10.0)
    assert timing.time_mean_s == 5.125


def test_statistics_reject_empty_and_negative() -> None:
    with pytest.raises(ValueError, match="at least one"):
        rank_timing([])
    with pytest.raises(ValueError, match="finite and >= 0"):
        rank_timing([1.0, -1.0])
    with pytest.raises(ValueError, match="at least one"):
        combine_timings([])


@given(st.lists(st.lists(st.floats(min_value=0, max_value=1e3), min_size=1, max_size=20),
                min_size=1, max_size=8))
def test_combined_time_lies_between_min_and_max(per_rank: list[list[float]]) -> None:
    timing = combine_timings([rank_timing(t) for t in per_rank])
    assert timing.time_min_s <= timing.time_s <= timing.time_max_s
    assert timing.time_max_s == max(max(t) for t in per_rank)


def test_host_layout() -> None:
    layout = host_layout(["a", "a", "b", "b", "b"])
    assert (layout.num_hosts, layout.ranks_per_host, layout.placement) == (2, 0, "mixed")
    assert layout.ranks_by_host == {"a": [0, 1], "b": [2, 3, 4]}
    assert host_layout(["x"] * 4).ranks_per_host == 4
    assert host_layout(["x", "y"]).placement == "inter-host"


def test_pairs_auto_and_matrix() -> None:
    single = ping_pong_pairs(["a", "a", "a"])
    assert [(p.rank_a, p.rank_b, p.placement) for p in single] == [(0, 1, "intra-host")]
    spread = ping_pong_pairs(["a", "b", "c"])
    assert [(p.rank_a, p.rank_b, p.placement) for p in spread] == [(0, 1, "inter-host")]
    assert ping_pong_pairs(["a"]) == []
    matrix = ping_pong_pairs(["a", "a", "b"], "matrix")
    assert [(p.rank_a, p.rank_b, p.placement) for p in matrix] == [
        (0, 1, "intra-host"), (0, 2, "inter-host"), (1, 2, "inter-host")]
    with pytest.raises(ValueError, match="'auto' or 'matrix'"):
        ping_pong_pairs(["a", "b"], "ring")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("all-reduce", ("all-reduce",)), ("alltoall, bcast", ("all-to-all", "broadcast")),
     ("all", OPERATIONS), (["send_recv", "sendrecv"], ("send-recv",))],
)
def test_parse_operations(text, expected) -> None:
    assert parse_operations(text) == expected


@pytest.mark.parametrize("text", ["", "reduce", "all,all-reduce", "bogus"])
def test_parse_operations_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_operations(text)


@given(st.text(max_size=30))
def test_parse_operations_garbage_raises_value_error_only(text: str) -> None:
    try:
        ops = parse_operations(text)
    except ValueError:
        return
    assert set(ops) <= set(OPERATIONS)


def test_env_and_pinned_algorithm() -> None:
    env = {"MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM": "ring", "UCX_TLS": "tcp,self", "PATH": "/bin",
           "OMPI_MCA_coll_tuned_alltoall_algorithm": "2", "FI_PROVIDER": "tcp"}
    assert list(collect_env(env)) == ["FI_PROVIDER", "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM",
                                      "OMPI_MCA_coll_tuned_alltoall_algorithm", "UCX_TLS"]
    assert pinned_algorithm("all-reduce", env) == "ring"
    assert pinned_algorithm("all-to-all", env) == "2"
    assert pinned_algorithm("all-gather", env) == ""
    assert pinned_algorithm("send-recv", env) == ""
    assert pinned_algorithm("all-reduce", {"MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM": "auto"}) == ""


def test_make_record_bandwidths() -> None:
    timing = combine_timings([RankTiming(median_s=1e-3, min_s=9e-4, max_s=2e-3, mean_s=1.1e-3)] * 4)
    record = make_record(source="mpi-probe", backend="mpi", operation="all-reduce",
                         size_bytes=1_000_000, num_ranks=4, timing=timing,
                         hosts=["a", "a", "b", "b"], plan=IterationPlan(iterations=5, warmup=2),
                         dtype="float32", num_wrong=0, library={}, env={})
    # nccl-tests doc/PERFORMANCE.md: algbw = S / t; all-reduce busbw = algbw * 2(n-1)/n
    assert record.algbw_bytes_per_s == pytest.approx(1e9)
    assert record.busbw_bytes_per_s == pytest.approx(1.5e9)
    assert (record.num_hosts, record.ranks_per_host, record.placement) == (2, 2, "mixed")
    assert (record.iterations, record.warmup_iterations) == (5, 2)
    assert record.extra == {"time_mean_s": 1.1e-3}


@pytest.mark.parametrize(("time_s", "size", "problem"), [
    (1e-8, 8, "below the physical floor"),            # 10 ns: faster than any port
    (1e-6, 1 << 30, "above 1.5x the fastest link"),   # 1 GiB in 1 us: no link moves that
])
def test_a_measured_record_that_fails_the_sanity_checks_is_kept_and_flagged(
        time_s: float, size: int, problem: str) -> None:
    timing = combine_timings([RankTiming(median_s=time_s, min_s=time_s, max_s=time_s,
                                         mean_s=time_s)] * 2)
    record = make_record(source="mpi-probe", backend="mpi", operation="all-reduce",
                         size_bytes=size, num_ranks=2, timing=timing, hosts=["a", "b"],
                         plan=IterationPlan(iterations=5, warmup=2), dtype="float32",
                         num_wrong=0, library={}, env={})
    assert record.time_s == time_s  # kept as measured
    (line,) = record.extra["problems"]
    assert problem in line


# -- argument checks and the test-only fault injection ---------------------------------------
_GOOD = {"operations": "all-reduce,alltoall", "sizes": [8, 1024], "iterations": None,
         "warmup": None, "pairs": "auto", "dtype": "float32", "time_budget_s": 1.0}


def test_check_probe_arguments_returns_the_operations() -> None:
    assert check_probe_arguments(**_GOOD) == ("all-reduce", "all-to-all")


@pytest.mark.parametrize(("change", "message"), [
    ({"operations": "bogus"}, "unknown collective 'bogus'"),
    ({"sizes": []}, "sizes must be a non-empty list of byte counts > 0"),
    ({"sizes": [8, 0]}, "sizes must be a non-empty list of byte counts > 0"),
    ({"iterations": 0}, "iterations must be >= 1, got 0"),
    ({"warmup": -1}, "warmup must be >= 0, got -1"),
    ({"pairs": "ring"}, "pairs must be 'auto' or 'matrix', got 'ring'"),
    ({"dtype": "float16"}, "dtype must be one of float32, float64, int32, int64"),
    ({"time_budget_s": 0.0}, "time_budget_s must be > 0, got 0.0"),
])
def test_check_probe_arguments_rejects(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_probe_arguments(**{**_GOOD, **change})


@pytest.mark.parametrize(("env", "rank"), [
    ({}, None), ({CORRUPT_ENV: ""}, None), ({CORRUPT_ENV: " 3 "}, 3), ({CORRUPT_ENV: "0"}, 0),
    ({"OTHER": "1"}, None),
])
def test_corrupting_rank_is_read_from_the_environment(env: dict, rank: int | None) -> None:
    assert corrupting_rank(env) == rank


def test_corrupting_rank_must_be_a_rank() -> None:
    with pytest.raises(ValueError, match=f"{CORRUPT_ENV} must be a rank number, got 'one'"):
        corrupting_rank({CORRUPT_ENV: "one"})


# ------------------------------------------------- batched timed regions (issue 12, item 9)


@pytest.mark.parametrize(("time_s", "iterations", "batch"), [
    (1e-6, 200, 20),     # 50 us region wants 50, but 10 samples at least: 200 // 10
    (2e-6, 1000, 25),    # ceil(50 us / 2 us)
    (49e-6, 1000, 2),
    (50e-6, 1000, 1),    # already a 50 us region
    (1e-3, 200, 1),
    (1e-6, 9, 1),        # too few iterations to batch
])
def test_batch_iterations(time_s: float, iterations: int, batch: int) -> None:
    from measure.probe_core import IterationPlan, batch_iterations

    plan = batch_iterations(IterationPlan(iterations=iterations, warmup=3), time_s)
    assert plan.batch == batch
    assert plan.iterations % plan.batch == 0 and plan.iterations > iterations - batch
    assert plan.warmup == 3


@pytest.mark.parametrize("time_s", [0.0, -1.0, float("nan"), float("inf")])
def test_batch_iterations_keeps_the_plan_without_an_estimate(time_s: float) -> None:
    from measure.probe_core import IterationPlan, batch_iterations

    plan = IterationPlan(iterations=200, warmup=3)
    assert batch_iterations(plan, time_s) == plan


def test_one_preempted_warmup_call_does_not_decide_the_batching() -> None:
    # the estimate is the median of the warmup's later half: on a busy 2-core host one call of
    # an 8-byte all-reduce can take milliseconds, and timed alone it turned batching off
    from measure.probe_core import IterationPlan, batch_iterations, warm_estimate

    warm = [4e-5, 2e-6, 2e-6, 2e-6, 2e-6, 2e-6, 2e-6, 2e-6, 2e-6, 3e-3]  # the last call held up
    assert warm_estimate(warm) == 2e-6
    plan = IterationPlan(iterations=200, warmup=10)
    assert batch_iterations(plan, warm_estimate(warm, least=True)).batch == 20
    assert batch_iterations(plan, warm[-1]).batch == 1  # what the last call alone decided
    # preempted through most of the warmup: the run is bounded by the typical call, and
    # batched by what one uninterrupted call takes
    busy = [4e-5, 2e-6, 3e-3, 3e-3, 2e-6, 3e-3, 3e-3, 2e-6, 3e-3, 3e-3]
    assert warm_estimate(busy) == 3e-3 and warm_estimate(busy, least=True) == 2e-6
    assert warm_estimate([1e-3] * 6) == warm_estimate([1e-3] * 6, least=True) == 1e-3
    assert warm_estimate([7e-6]) == 7e-6 and np.isnan(warm_estimate([]))


def test_a_batch_larger_than_the_iterations_is_refused() -> None:
    from measure.probe_core import IterationPlan

    with pytest.raises(ValueError, match="batch must be in"):
        IterationPlan(iterations=5, warmup=0, batch=6)



def test_memory_estimate_counts_each_buffer_a_rank_holds() -> None:
    # all-to-all at 1 GiB: 1 GiB sent, 1 GiB received, 1 GiB of expected values
    gib = 1 << 30
    assert memory_per_rank_bytes(["all-to-all"], [gib], num_ranks=8, itemsize=4) == 3 * gib
    # all-gather's send buffer is 1/n of the size; broadcast works in place
    assert (memory_per_rank_bytes(["all-gather"], [gib], num_ranks=8, itemsize=4)
            == gib // 8 + 2 * gib)
    assert memory_per_rank_bytes(["broadcast"], [gib], num_ranks=8, itemsize=4) == 2 * gib
    # the largest (operation, size) is what counts; a pristine copy of the send buffer adds one
    assert memory_per_rank_bytes(["all-gather", "all-reduce"], [1024, gib], num_ranks=8,
                                 itemsize=4, send_copies=2) == 4 * gib


def test_memory_problem_counts_the_ranks_sharing_a_host() -> None:
    hosts = ["a", "a", "a", "b"]
    gib = 1 << 30
    common = {"hosts": hosts, "itemsize": 4, "available_bytes": 8 * gib}
    # 1 GiB all-reduce: 3 GiB a rank; host a's three ranks need 9 GiB of its 8, host b's one 3
    said = memory_problem(["all-reduce"], [gib], rank=0, **common)
    assert said is not None and "9.0 GiB on host 'a' (3 ranks x 3.0 GiB" in said
    assert "8.0 GiB available" in said and "smaller --sizes" in said
    assert memory_problem(["all-reduce"], [gib], rank=3, **common) is None
    assert memory_problem(["all-reduce"], [gib], rank=0, hosts=hosts, itemsize=4,
                          available_bytes=None) is None  # unknown: not refused


def test_filling_a_buffer_costs_the_buffer_alone() -> None:
    # the values repeat with period 17, so one period is computed and repeated: no int64 copy
    # of the buffer (three of them once, 6x a float32 buffer)
    import tracemalloc

    count = 4 << 20  # 16 MiB of float32
    tracemalloc.start()
    values = fill_values(3, count, "float32")
    layout = buffer_layout("all-to-all", 4 * count, num_ranks=4, itemsize=4)
    expected = expected_values("all-to-all", rank=1, layout=layout, dtype="float32")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.2 * (values.nbytes + expected.nbytes)
    assert values[:18].tolist() == [float(4 + i % 17) for i in range(18)]


def test_memory_problem_counts_what_runs_at_once() -> None:
    gib = 1 << 30
    hosts = ["a"] * 8
    # --no-check makes no expected-values buffer: 2 GiB a rank for a 1 GiB all-reduce
    assert memory_problem(["all-reduce"], [gib], rank=0, hosts=hosts, itemsize=4,
                          available_bytes=16 * gib, check=False) is None
    assert memory_problem(["all-reduce"], [gib], rank=0, hosts=hosts, itemsize=4,
                          available_bytes=16 * gib) is not None  # 8 x 3 GiB
    # send-recv runs one pair at a time: two ranks' buffers on a host, not all eight
    said = memory_problem(["send-recv"], [4 * gib], rank=0, hosts=hosts, itemsize=4,
                          available_bytes=16 * gib)
    assert said is not None and "(2 ranks x 12.0 GiB" in said
    assert memory_problem(["send-recv"], [gib], rank=0, hosts=hosts, itemsize=4,
                          available_bytes=16 * gib) is None
