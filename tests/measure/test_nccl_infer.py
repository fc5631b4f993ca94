"""Inferring an nccl-tests table's collective and rank count (measure.parsers.nccl_infer).

Tables are written the way nccl-tests writes them (NVIDIA/nccl-tests src/common.cu and src/*.cu:
redop ``none`` or the reduction, root ``-1`` or the root, per-rank count for all-gather,
reduce-scatter and all-to-all, busbw = algbw x the PERFORMANCE.md factor, 2 decimals) for a
random collective, rank count, sizes and bandwidth; the parser sees no collective name.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectives.names import COLLECTIVES, busbw_factor
from measure.parsers import parse_log
from measure.parsers.nccl_infer import resolve, row_evidence

_NO_REDUCTION = ("all-gather", "all-to-all", "broadcast")
_ROOTED = ("broadcast", "reduce")
_PER_RANK = ("all-gather", "reduce-scatter", "all-to-all")
_HEADER = ("#       size         count      type   redop    root     time   algbw   busbw #wrong"
           "     time   algbw   busbw #wrong")


def _table(operation: str, num_ranks: int, sizes_log2: list[int], bandwidth_gb_per_s: float,
           *, rank_lines: bool, dtype: str = "float", type_bytes: int = 4) -> str:
    lines = []
    if rank_lines:
        lines.append("# nThread 1 nGpus 1 minBytes 8 maxBytes 8 warmup iters: 5 iters: 20")
        lines += [f"#  Rank {r:2d} Group  0 Pid {100 + r} on node{r // 8} device {r % 8} [0x1] GPU"
                  for r in range(num_ranks)]
    lines.append(_HEADER)
    redop = "none" if operation in _NO_REDUCTION else "sum"
    root = 0 if operation in _ROOTED else -1
    factor = busbw_factor(operation, num_ranks)
    for exponent in sizes_log2:
        count = 2 ** exponent
        size = count * type_bytes * (num_ranks if operation in _PER_RANK else 1)
        time_us = size / (bandwidth_gb_per_s * 1e3)
        algbw = size / (time_us * 1e3)
        half = f"{time_us:9.2f} {algbw:7.2f} {algbw * factor:7.2f}      0"
        lines.append(f"{size:12d} {count:13d} {dtype:>9} {redop:>7} {root:7d} {half} {half}")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(operation=st.sampled_from(COLLECTIVES), num_ranks=st.integers(3, 64),
       sizes=st.lists(st.integers(16, 28), min_size=1, max_size=6, unique=True),
       bandwidth=st.floats(50.0, 400.0), rank_lines=st.booleans())
def test_every_collective_is_told_apart_or_refused_naming_both(operation, num_ranks, sizes,
                                                                bandwidth, rank_lines):
    # Up to 64 ranks and from 50 GB/s the printed digits pin n: the ratio's uncertainty
    # (0.005 / algbw + 0.005 / busbw, relative) is below the gap to n +- 1 (~1/n^2).
    text = _table(operation, num_ranks, sorted(sizes), bandwidth, rank_lines=rank_lines)
    if operation in ("all-gather", "all-to-all"):
        with pytest.raises(ValueError) as info:
            parse_log(text)
        message = str(info.value)
        assert "--operation all-gather or --operation all-to-all" in message
        assert len(message.splitlines()) == 1
        log = parse_log(text, operation=operation)
        assert log.rank_counts == (num_ranks,)
        return
    if operation == "send-recv" and not rank_lines:
        # Without rank lines its table is that of an all-reduce on 2 ranks (busbw = algbw).
        with pytest.raises(ValueError, match="--operation all-reduce or --operation send-recv"):
            parse_log(text)
        log = parse_log(text, operation="send-recv", num_ranks=num_ranks)
    elif operation in ("broadcast", "reduce") and not rank_lines:
        # busbw = algbw whatever the rank count: nothing in the table gives it.
        with pytest.raises(ValueError, match="pass --ranks N"):
            parse_log(text)
        log = parse_log(text, num_ranks=num_ranks)
    else:
        log = parse_log(text)
    assert log.operations == (operation,)
    assert log.rank_counts == (num_ranks,)
    record = log.records[0]
    assert ("operation" in record.inferred) == (operation != "send-recv" or rank_lines)
    assert ("num_ranks" in record.inferred) == (not rank_lines and operation in (
        "all-reduce", "reduce-scatter"))
    assert all(any(line.endswith(v) for line in log.inferred) for v in record.inferred.values())


def test_all_reduce_and_send_recv_on_two_ranks_are_refused_naming_both():
    text = _table("send-recv", 2, [20, 24], 23.7, rank_lines=True)
    with pytest.raises(ValueError) as info:
        parse_log(text, name="pair.log")
    message = str(info.value)
    assert message.startswith("pair.log:5: ")  # the first data row
    assert "all-reduce or send-recv" in message
    assert "--operation all-reduce or --operation send-recv" in message
    assert parse_log(text, operation="send-recv").operations == ("send-recv",)


def test_rank_count_from_the_launcher_line_and_from_the_header():
    table = _table("all-reduce", 16, [20, 26], 80.0, rank_lines=False)
    launched = parse_log("$ mpirun -np 16 -npernode 8 ./all_reduce_perf -b 8 -e 8G\n" + table)
    record = launched.records[0]
    assert (record.num_ranks, record.num_hosts) == (16, 2)
    assert record.inferred["num_ranks"] == "the launcher line 1 (16 processes)"
    assert record.inferred["num_hosts"] == record.inferred["num_ranks"]
    # "-g 8": one process drives 8 GPUs, so nThread x nGpus is the rank count.
    single = parse_log("# nThread 1 nGpus 8 minBytes 8 maxBytes 8 warmup iters: 5 iters: 20\n"
                       + _table("all-reduce", 8, [20, 26], 80.0, rank_lines=False))
    assert single.records[0].num_ranks == 8
    assert "nThread x nGpus" in single.records[0].inferred["num_ranks"]


def test_a_launcher_count_the_ratio_contradicts_is_not_used():
    # busbw/algbw = 2(n-1)/n is computed by nccl-tests from the real rank count.
    table = _table("all-reduce", 32, [22, 28], 80.0, rank_lines=False)
    log = parse_log("srun -n 16 ./all_reduce_perf\n" + table)
    assert log.rank_counts == (32,)
    assert log.records[0].inferred["num_ranks"].startswith("busbw/algbw ratio 1.938")


def test_a_named_collective_is_trusted_over_the_ratio():
    # Old builds printed busbw = algbw for all_gather (wohlbier_dgx2_v100_old_format.md).
    rows = [row_evidence(line_number=3, size_bytes=48 * 2**20, count=2**20, dtype="float",
                         bandwidth_tokens=[("70.69", "70.69")])]
    from measure.parsers.nccl_infer import RankSource
    found = resolve(rows, redops=set(), roots=set(), has_root_column=False,
                    named_operation="all-gather",
                    rank_sources=[RankSource(num_ranks=12, evidence="the rank lines",
                                             inferred=False)])
    assert (found.operation, found.num_ranks, found.inferred) == ("all-gather", 12, {})


def test_a_ratio_too_coarse_for_the_rank_count_asks_for_ranks():
    # At 5.00 GB/s, 2(n-1)/n for n = 25, 26, 27 all print as busbw 9.6x: refuse, do not guess.
    text = _table("all-reduce", 26, [16], 5.0, rank_lines=False)
    with pytest.raises(ValueError, match="pass --ranks N"):
        parse_log(text)
    assert parse_log(text, num_ranks=26).records[0].inferred["operation"].startswith(
        "busbw/algbw ratio 1.92")


def test_rows_too_small_to_show_a_ratio_leave_the_choice_open():
    # 8..128 B rows print algbw 0.00: no ratio, so all-reduce and send-recv both remain.
    text = _table("all-reduce", 8, [1, 2, 3], 0.001, rank_lines=True)
    with pytest.raises(ValueError, match="all-reduce or send-recv"):
        parse_log(text)


def test_summary_rows_with_a_label_column_are_separate_runs():
    # nccl527_p4dn-a100_1-4node_all_reduce_summary.txt: a "p4dn" column counts the instances.
    text = ("          out-of-place      in-place\n"
            " p4dn  size  count  type  redop  time  algbw  busbw  error"
            "  time  algbw  busbw  error\n"
            "   1  1073741824  268435456  float  sum  8142.6  131.87  230.77  2e-07"
            "  8141.2  131.89  230.81  2e-07\n"
            "   2  1073741824  268435456  float  sum  35215  30.49  57.17  4e-07"
            "  35198  30.51  57.20  4e-07\n")
    log = parse_log(text)
    assert [(r.extra["p4dn"], r.num_ranks) for r in log.records if not r.in_place] == [
        (1, 8), (2, 16)]


def test_ranks_given_by_the_user_are_never_overruled_by_the_ratio():
    text = _table("all-reduce", 32, [22, 28], 80.0, rank_lines=False)
    assert parse_log(text).rank_counts == (32,)
    log = parse_log(text, operation="all-reduce", num_ranks=30)
    assert log.rank_counts == (30,) and not log.records[0].inferred
