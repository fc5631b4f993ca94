"""Tests of measure.parsers against real public logs (tests/data/logs/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from measure.parsers import ParsedLog, detect_format, parse_log, parse_log_file
from measure.parsers.common import strip_launcher_prefix

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
TOGETHER = LOGS / "nccl-tests" / "together_h100_all_reduce_ring.out"
XXRJUN = LOGS / "nccl-tests" / "xxrjun_h100_2node_alltoall_sendrecv.log"
TAGGED = LOGS / "nccl-tests" / "xxrjun_h100_2node_openmpi_tagged.log"
SRUN = LOGS / "nccl-tests" / "issue290_srun_h100_2node_all_reduce.log"
OLD = LOGS / "nccl-tests" / "wohlbier_dgx2_v100_old_format.md"
OSU5 = LOGS / "osu" / "libfabric_cray_pr859_osu_latency_v5.0.txt"
OSU7 = LOGS / "osu" / "libfabric_pr8680_osu_latency_v7.0.txt"
OSU_REDUCE = LOGS / "osu" / "ompi_pr12318_osu_reduce_v7.3_full.txt"
OSU_TAGGED = LOGS / "osu" / "ucx_issue2111_osu_latency_mt_openmpi_tagged.txt"
IMB_PINGPONG = LOGS / "imb" / "ohpc_issue207_imb_pingpong_mvapich2.txt"
IMB_REDUCE = LOGS / "imb" / "ompi_issue9838_imb_reduce.txt"
ALL_LOGS = sorted(p for p in LOGS.glob("*/*") if p.is_file())


def _us(value: float) -> float:
    """The float of the printed microseconds ``value`` in seconds (``34.98`` -> ``34.98e-6``)."""
    return float(f"{value!r}e-6")


def _find(log: ParsedLog, operation: str, size_bytes: int, in_place: bool = False):
    found = [r for r in log.records
             if r.operation == operation and r.size_bytes == size_bytes and r.in_place == in_place]
    assert len(found) == 1, found
    return found[0]


# --- nccl-tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("size_bytes", "in_place", "time_us", "busbw_gb_per_s"), [
    # together_h100_all_reduce_ring.out, lines "8 2 float sum -1 34.98 ... 34.52"
    (8, False, 34.98, 0.00),
    (8, True, 34.52, 0.00),
    # line "524288 131072 ... 69.21 7.58 13.26 0 44.23 11.85 20.74 0"
    (524288, False, 69.21, 13.26),
    (524288, True, 44.23, 20.74),
    # line "8589934592 2147483648 ... 40838.9 210.34 368.09 0 40780.5 210.64 368.62 0"
    (8589934592, False, 40838.9, 368.09),
    (8589934592, True, 40780.5, 368.62),
])
def test_new_format_columns_exact(size_bytes, in_place, time_us, busbw_gb_per_s):
    log = parse_log_file(TOGETHER)
    record = _find(log, "all-reduce", size_bytes, in_place)
    assert record.time_s == _us(time_us)
    assert record.extra["printed_busbw_bytes_per_s"] == float(f"{busbw_gb_per_s!r}e9")
    assert record.num_wrong == 0
    assert record.dtype == "float"
    assert record.extra["redop"] == "sum" and record.extra["root"] == -1


def test_new_format_header_hosts_and_versions():
    log = parse_log_file(TOGETHER)
    assert log.format == "nccl-tests"
    assert len(log.records) == 2 * 31  # 31 sizes 8 B .. 8 GiB, two halves each
    assert log.hosts == ("gpu-dp-2jvzl-pqq7p",)
    record = log.records[0]
    assert (record.num_ranks, record.num_hosts, record.ranks_per_host) == (8, 1, 8)
    assert record.placement == "intra-host"
    assert record.hosts == ["gpu-dp-2jvzl-pqq7p"] * 8
    assert (record.iterations, record.warmup_iterations) == (20, 5)
    # "# nccl-tests version 2.17.9 nccl-headers=22602 nccl-library=22602"
    assert log.library == {"nccl-tests": "2.17.9", "nccl": "2.26.2"}
    assert record.source == "nccl-tests"


def test_concatenated_runs_inter_host_and_na_wrong():
    log = parse_log_file(XXRJUN)
    assert log.operations == ("all-to-all", "send-recv")
    assert len(log.records) == 40
    assert log.hosts == ("cnode4-005", "cnode4-009")
    # "17179869184 1073741824 double none -1 361389 47.54 23.77 0 360597 47.64 23.82 N/A"
    out = _find(log, "all-to-all", 17179869184, in_place=False)
    inp = _find(log, "all-to-all", 17179869184, in_place=True)
    assert out.time_s == 361389e-6 and inp.time_s == 360597e-6
    assert out.num_wrong == 0 and inp.num_wrong is None
    assert (out.num_ranks, out.num_hosts, out.placement) == (2, 2, "inter-host")
    assert out.dtype == "double"
    # sendrecv: "268435456 33554432 double sum -1 11358 23.63 23.63 0 11365 23.62 23.62 N/A"
    assert _find(log, "send-recv", 268435456).time_s == 11358e-6
    assert (out.iterations, out.warmup_iterations) == (20, 1)


def test_openmpi_tags_give_the_same_records():
    plain = parse_log_file(XXRJUN)
    tagged = parse_log_file(TAGGED)
    assert [r.to_dict() for r in tagged.records] == [r.to_dict() for r in plain.records]


def test_srun_prefixes_and_inferred_collective():
    # The log never names its collective: redop sum, root -1, busbw/algbw 1.875 with 16 ranks
    # and size = count x 4 B leave only all-reduce, and the same records as --operation give.
    inferred = parse_log_file(SRUN)
    assert inferred.operations == ("all-reduce",)
    assert inferred.records[0].inferred["operation"].startswith(
        "busbw/algbw ratio 1.875 with 16 ranks; redop sum, root -1")
    log = parse_log_file(SRUN, operation="all-reduce")
    assert all(not r.inferred for r in log.records)
    assert [dict(r.to_dict(), inferred={}) for r in inferred.records] == [
        dict(r.to_dict(), inferred={}) for r in log.records]
    assert len(log.records) == 22
    # " 0:      8388608       2097152     float     sum      -1    215.3 ... N/A    180.0 ..."
    first = _find(log, "all-reduce", 8388608)
    assert first.time_s == 215.3e-6
    assert _find(log, "all-reduce", 8388608, in_place=True).time_s == 180.0e-6
    assert first.num_wrong is None
    assert (first.num_ranks, first.num_hosts, first.ranks_per_host) == (16, 2, 8)
    assert first.hosts == ["node005"] * 8 + ["node007"] * 8
    assert first.iterations == 200


def test_old_format_error_column_and_binary_name():
    log = parse_log_file(OLD)
    assert log.operations == ("all-gather", "all-reduce")
    assert log.num_zero_size_rows == 3
    # all_gather (no redop, no root): "4294967280 89478485 float 53902 73.04 73.04 1e+00 ..."
    gather = _find(log, "all-gather", 4294967280)
    assert gather.time_s == 53902e-6
    assert gather.num_wrong is None
    assert gather.extra["max_rel_error"] == 1.0
    assert "redop" not in gather.extra and "root" not in gather.extra
    # all_reduce: "8 2 float sum 61.03 0.00 0.00 2e-07 61.04 0.00 0.00 1e-07"
    reduce_ = _find(log, "all-reduce", 8, in_place=True)
    assert reduce_.time_s == 61.04e-6
    assert reduce_.extra["max_rel_error"] == 1e-07
    assert (reduce_.num_ranks, reduce_.num_hosts) == (12, 1)
    assert log.hosts == ("seville",)


def test_noise_lines_env_and_per_iteration_columns():
    text = "\n".join([
        "node1:100:100 [0] NCCL INFO NCCL version 2.21.5+cuda12.4",
        "node1:100:100 [0] NCCL INFO NCCL_ALGO set by environment to Ring",
        "# Collective test starting: reduce_scatter_perf",
        "# nThread 1 nGpus 1 minBytes 1024 maxBytes 1024 step: 2(factor) warmup iters: 2 iters: 10",
        "#  Rank  0 Group  0 Pid 1 on node1 device  0 [0x1] GPU",
        "#  Rank  1 Group  0 Pid 2 on node1 device  1 [0x2] GPU",
        "#       size         count      type   redop    root     time   algbw   busbw #wrong"
        "   i_min   i_max     time   algbw   busbw #wrong   i_min   i_max",
        "node1:100:100 [0] NCCL WARN something odd",
        "        1024           128     float     sum      -1    10.00    0.10    0.05      3"
        "    9.50   11.00     9.00    0.11    0.06      0    8.75   10.00",
    ])
    log = parse_log(text)
    out, inp = log.records
    assert (out.operation, out.time_s, out.num_wrong) == ("reduce-scatter", 10.00e-6, 3)
    assert out.extra["i_min"] == 9.50 and inp.extra["i_max"] == 10.00
    assert out.algorithm == "Ring" and out.env["NCCL_ALGO"] == "Ring"
    assert out.library["nccl"] == "2.21.5+cuda12.4"
    assert len(log.wrong_records) == 1


def test_unreadable_data_line_is_reported_with_its_number():
    text = TOGETHER.read_text().replace("  126.62", "  nan...")
    log = parse_log(text)
    assert len(log.records) == 60
    (skipped,) = log.skipped
    assert skipped.line_number == 39  # the 16777216-byte row is line 39 of the file
    assert "time" in skipped.reason


def test_excerpt_without_rank_lines_needs_ranks():
    text = "\n".join(TOGETHER.read_text().splitlines()[15:20])
    with pytest.raises(ValueError, match="--ranks"):
        parse_log(text, operation="all-reduce")
    log = parse_log(text, operation="all-reduce", num_ranks=16, num_hosts=2)
    assert (log.records[0].num_ranks, log.records[0].num_hosts) == (16, 2)
    assert log.records[0].ranks_per_host == 8


# --- OSU ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "size_bytes", "time_us", "version"), [
    (OSU5, 1, 1.85, "5.0"),            # "1                       1.85"
    (OSU5, 4194304, 497.37, "5.0"),    # "4194304               497.37"
    (OSU7, 4096, 0.66, "7.0-lrbison3"),  # "4096                    0.66"
    (OSU_TAGGED, 4, 2113.56, "3.6"),   # "...[1,0]<stdout>:4                    2113.56"
])
def test_osu_latency_exact(path, size_bytes, time_us, version):
    log = parse_log_file(path)
    assert log.format == "osu"
    record = _find(log, "send-recv", size_bytes)
    assert record.time_s == _us(time_us)
    # OSU5's "srun -n2 -N2" line states 2 hosts; the others do not say where the ranks ran.
    assert record.num_ranks == 2
    assert record.placement == ("inter-host" if path == OSU5 else "")
    assert log.library["osu"] == version
    assert log.num_zero_size_rows == 1
    assert any("--hosts" in w for w in log.warnings) == (path != OSU5)


def test_osu_collective_full_columns():
    # The log's "$ mpirun -np 192 ..." line gives the ranks; OSU itself never prints them.
    from_launcher = parse_log_file(OSU_REDUCE)
    assert from_launcher.rank_counts == (192,)
    assert from_launcher.records[0].inferred == {"num_ranks": "the launcher line 1 (192 processes)"}
    without = OSU_REDUCE.read_text().replace("mpirun -np 192", "mpirun")
    with pytest.raises(ValueError, match="pass --ranks N"):
        parse_log(without)
    log = parse_log_file(OSU_REDUCE, num_ranks=192, num_hosts=2)
    assert len(log.records) == 11
    # "1024                   55.48             24.05            134.61        1000"
    record = _find(log, "reduce", 1024)
    assert record.time_s == 55.48e-6
    assert record.time_min_s == 24.05e-6 and record.time_max_s == 134.61e-6
    assert record.iterations == 1000
    assert record.dtype == "MPI_CHAR"
    assert (record.num_ranks, record.num_hosts, record.ranks_per_host) == (192, 2, 96)
    assert record.extra["osu_variant"] == "MPI-CUDA"


def test_osu_bandwidth_and_allgather_sizes():
    # Column layout of OMB 7.x osu_bw and osu_allgather (constructed, numbers illustrative).
    bw = parse_log("# OSU MPI Bandwidth Test v7.5\n# Datatype: MPI_CHAR.\n"
                   "# Size      Bandwidth (MB/s)\n268435456           12254.16\n")
    (record,) = bw.records
    assert record.time_s == pytest.approx(268435456 / 12254.16e6, rel=1e-15)
    assert record.extra["bandwidth_bytes_per_s"] == 12254.16e6
    gather = parse_log("# OSU MPI Allgather Latency Test v7.4\n# Size       Avg Latency(us)\n"
                       "1024                   10.00\n", num_ranks=4)
    assert gather.records[0].size_bytes == 4096
    assert gather.records[0].extra["printed_size_bytes"] == 1024


def test_osu_unsupported_test_is_skipped_with_reason():
    with pytest.raises(ValueError, match="Barrier"):
        parse_log("# OSU MPI Barrier Latency Test v7.4\n# Size       Avg Latency(us)\n"
                  "0                      10.00\n1                      10.00\n", num_ranks=4)


# --- IMB ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size_bytes", "time_us", "mbytes"), [
    (1, 1.77, 0.54),             # "            1         1000         1.77         0.54"
    (1024, 2.61, 373.77),        # "         1024         1000         2.61       373.77"
    (262144, 48.82, 5121.09),    # "       262144          160        48.82      5121.09"
])
def test_imb_pingpong_exact(size_bytes, time_us, mbytes):
    log = parse_log_file(IMB_PINGPONG, num_hosts=2)
    record = _find(log, "send-recv", size_bytes)
    assert record.time_s == _us(time_us)
    assert record.extra["printed_mbytes_per_s"] == mbytes
    assert record.extra["benchmark"] == "PingPong"
    assert (record.num_ranks, record.num_hosts, record.placement) == (2, 2, "inter-host")
    assert log.num_zero_size_rows == 1


def test_imb_collective_uses_t_max():
    log = parse_log_file(IMB_REDUCE)
    assert len(log.records) == 11
    # "         4096         1000         0.42         2.93         1.67"
    record = _find(log, "reduce", 4096)
    assert record.time_s == 2.93e-6
    assert record.time_min_s == 0.42e-6 and record.time_max_s == 2.93e-6
    assert record.extra["time_avg_s"] == 1.67e-6
    assert record.iterations == 1000 and record.num_ranks == 2


def test_imb_alltoall_size_is_total_per_rank():
    text = ("# Benchmarking Alltoall\n# #processes = 8\n"
            "       #bytes #repetitions  t_min[usec]  t_max[usec]  t_avg[usec]\n"
            "         1024         1000         5.00         7.00         6.00\n")
    (record,) = parse_log(text).records
    assert record.size_bytes == 8192 and record.num_ranks == 8
    assert record.extra["printed_size_bytes"] == 1024


# --- detection, prefixes, errors ----------------------------------------------------------------


@pytest.mark.parametrize(("path", "fmt"), [
    (TOGETHER, "nccl-tests"), (TAGGED, "nccl-tests"), (SRUN, "nccl-tests"), (OLD, "nccl-tests"),
    (OSU5, "osu"), (OSU_TAGGED, "osu"), (IMB_PINGPONG, "imb"), (IMB_REDUCE, "imb"),
])
def test_detect_format(path, fmt):
    assert detect_format(path.read_text()) == fmt


@pytest.mark.parametrize(("line", "expected"), [
    (" 0: # nThread 1", "# nThread 1"),
    ("12: 1024 1", "1024 1"),
    ("[1,3]<stdout>:# Size", "# Size"),
    ("Sun Dec 24 09:52:05 2017[1,0]<stdout>:0   2.35", "0   2.35"),
    ("[0] #  Rank  0", "#  Rank  0"),
    ("           8             2     float", "           8             2     float"),
])
def test_strip_launcher_prefix(line, expected):
    assert strip_launcher_prefix(line) == expected


@pytest.mark.parametrize("text", ["", "\n\n", "hello world\n", "# Using devices\n#\n"])
def test_no_data_is_one_line_value_error(text):
    with pytest.raises(ValueError, match="no nccl-tests, OSU or IMB data lines found") as info:
        parse_log(text, name="LOG")
    assert "\n" not in str(info.value) and str(info.value).startswith("LOG: ")


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match="not a text log"):
        parse_log_file(path)


def test_unknown_format_name():
    with pytest.raises(ValueError, match="format must be"):
        parse_log("x", format="csv")


# --- fuzzing ------------------------------------------------------------------------------------

_FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _parse_or_value_error(text: str, **kwargs) -> None:
    try:
        log = parse_log(text, **kwargs)
    except ValueError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(log, ParsedLog) and log.records


@_FUZZ
@given(st.text(max_size=2000))
def test_random_text(text):
    _parse_or_value_error(text)


@_FUZZ
@given(st.sampled_from(ALL_LOGS), st.integers(min_value=0, max_value=6000),
       st.integers(min_value=0, max_value=6000))
def test_truncated_and_cut_real_logs(path, start, stop):
    text = path.read_text()
    _parse_or_value_error(text[:stop], num_ranks=4)
    _parse_or_value_error(text[start:], operation="all-reduce", num_ranks=4)


@_FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "x.log"
    path.write_bytes(data)
    try:
        log = parse_log_file(path)
    except ValueError:
        return
    assert log.records


@_FUZZ
@given(st.sampled_from(ALL_LOGS), st.lists(st.tuples(st.integers(0, 5000), st.sampled_from(
    ["", " ", "x", "nan", "-1", "1e999", "N/A", "#", "\n", "0", "[1,0]<stdout>:", " 3: "])),
    max_size=8))
def test_mutated_real_logs(path, edits):
    text = path.read_text()
    for position, insert in edits:
        text = text[:position] + insert + text[position + 1:]
    _parse_or_value_error(text, num_ranks=8, operation="all-reduce")


@pytest.mark.parametrize("dress", ["kubectl-timestamps", "kubectl-prefix", "kubectl-both",
                                   "ansi-colours", "utf-16", "gzip"])
def test_a_log_as_collectors_and_shells_keep_it_parses_as_the_plain_one(tmp_path, dress):
    """kubectl logs --timestamps/--prefix, coloured terminal output, PowerShell's UTF-16 '>'
    redirect and a .log.gz give the same records as the plain log."""
    import gzip

    from measure.parsers import parse_log_file

    plain = (Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
             / "xxrjun_cluster01-h100_1node_all_reduce.log")
    lines = plain.read_text().splitlines()
    path = tmp_path / "dressed.log"
    if dress == "kubectl-timestamps":
        path.write_text("".join(f"2024-05-01T12:00:00.123456789Z {x}\n" for x in lines))
    elif dress == "kubectl-prefix":
        path.write_text("".join(f"[pod/train-0/mpi] {x}\n" for x in lines))
    elif dress == "kubectl-both":
        path.write_text("".join(f"[pod/train-0/mpi] 2024-05-01T12:00:00Z {x}\n" for x in lines))
    elif dress == "ansi-colours":
        path.write_text("".join(f"\x1b[1;32m{x}\x1b[0m\n" for x in lines))
    elif dress == "utf-16":
        path.write_bytes(plain.read_text().encode("utf-16"))
    else:
        path.write_bytes(gzip.compress(plain.read_bytes()))
    got, want = parse_log_file(path).records, parse_log_file(plain).records
    assert [(r.operation, r.size_bytes, r.time_s, r.num_ranks) for r in got] == [
        (r.operation, r.size_bytes, r.time_s, r.num_ranks) for r in want]
    assert len(want) == 20


@pytest.mark.parametrize("where", ["header", "body"])
def test_a_broken_gzip_file_is_one_line(tmp_path, where):
    import gzip

    from measure.parsers import parse_log_file

    bad = tmp_path / "cut.log.gz"
    if where == "header":
        bad.write_bytes(b"\x1f\x8b\x08\x00broken")
    else:  # a corrupt deflate stream (zlib.error, not an OSError)
        log = Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests" / (
            "xxrjun_cluster01-h100_1node_all_reduce.log")
        packed = bytearray(gzip.compress(log.read_bytes()))
        packed[20:60] = bytes(40)
        bad.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match="a gzip file that does not decompress"):
        parse_log_file(bad)


def test_two_runs_pasted_into_one_file_keep_their_own_versions(tmp_path):
    from measure.parsers import parse_log_file

    logs = Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
    first = logs / "xxrjun_cluster01-h100_1node_all_reduce.log"
    second = logs / "together_h100_all_reduce_ring.out"
    both = tmp_path / "both.log"
    both.write_text(first.read_text() + second.read_text())
    got = parse_log_file(both).records
    alone = [parse_log_file(f).records for f in (first, second)]
    assert [r.library for r in got] == [r.library for part in alone for r in part]
    assert alone[0][0].library != alone[1][0].library  # the two runs' versions differ
