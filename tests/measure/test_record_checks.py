"""Sanity checks on imported and measured records (measure.record_checks), and garbage logs made
from real ones: each is refused by ``fabric import`` with exit 1 and one line naming its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabric.catalog import default_catalog
from fabric.cli import cli
from measure.record_checks import (
    BANDWIDTH_MARGIN,
    TIME_CEILING_S,
    TIME_FLOOR_S,
    check_record,
    fastest_link_bytes_per_s,
    record_problems,
)
from measure.records import Record

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
TOGETHER = LOGS / "nccl-tests" / "together_h100_all_reduce_ring.out"
IMB_REDUCE = LOGS / "imb" / "ompi_issue9838_imb_reduce.txt"
OSU7 = LOGS / "osu" / "libfabric_pr8680_osu_latency_v7.0.txt"
# together_h100_all_reduce_ring.out, line 49: the 8 GiB row.
BIG_ROW = re.compile(r"^( +8589934592 +2147483648 .*)$", re.M)


def _import(tmp_path: Path, text: str, name: str = "bad.log"):
    log = tmp_path / name
    log.write_text(text)
    out = tmp_path / "r.jsonl"
    result = CliRunner().invoke(cli, ["import", str(log), "-o", str(out)])
    return result, out


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _big_row_line(text: str) -> int:
    match = BIG_ROW.search(text)
    assert match is not None
    return _line_of(text, match.group(1))


def _assert_refused(result, out: Path, line: int, words: str) -> None:
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"bad.log:{line}:" in lines[0] and words in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_swapped_size_and_count_columns_are_refused(tmp_path):
    text = TOGETHER.read_text()
    swapped = re.sub(r"^( +)(\d+)( +)(\d+)( +float)", r"\1\4\3\2\5", text, flags=re.M)
    result, out = _import(tmp_path, swapped)
    _assert_refused(result, out, _line_of(text, "           8             2     float"),
                    "size and count columns swapped")


def test_swapped_columns_with_the_collective_named_are_refused(tmp_path):
    text = TOGETHER.read_text()
    swapped = BIG_ROW.sub(lambda m: m.group(1).replace("8589934592    2147483648",
                                                       "2147483648    8589934592"), text)
    result, out = _import(tmp_path, swapped)
    _assert_refused(result, out, _big_row_line(text), "swapped")


def test_times_of_1e300_us_are_refused(tmp_path):
    text = TOGETHER.read_text()
    huge = BIG_ROW.sub(lambda m: m.group(1).replace("40838.9", "1e300"), text)
    result, out = _import(tmp_path, huge)
    _assert_refused(result, out, _big_row_line(text), "above the ceiling of one hour")


def test_imb_time_of_1e300_us_is_refused(tmp_path):
    text = IMB_REDUCE.read_text()
    row = next(line for line in text.splitlines() if re.match(r"^\s+1024\s+\d+\s", line))
    cells = row.split()
    garbled = text.replace(row, row.replace(cells[3], "1e300", 1), 1)
    result, out = _import(tmp_path, garbled)
    _assert_refused(result, out, _line_of(text, row), "ceiling")


def test_osu_time_below_the_floor_is_refused(tmp_path):
    text = OSU7.read_text()
    row = next(line for line in text.splitlines() if re.match(r"^4096\s", line))
    garbled = text.replace(row, "4096                    0.01", 1)
    result, out = _import(tmp_path, garbled)
    _assert_refused(result, out, _line_of(text, row), "below the physical floor")


def test_bus_bandwidth_above_the_fastest_link_is_refused(tmp_path):
    # The 8 GiB row 1000x faster: 368 TB/s busbw, far above any NVLink.
    text = TOGETHER.read_text()
    fast = BIG_ROW.sub(lambda m: m.group(1).replace("40838.9", "40.8389"), text)
    result, out = _import(tmp_path, fast)
    _assert_refused(result, out, _big_row_line(text), "fastest link in the catalog")


def test_real_logs_pass_every_check():
    from measure.parsers import parse_log_file

    for path in (TOGETHER, IMB_REDUCE, OSU7):
        for record in parse_log_file(path).records:
            assert record_problems(record) == []


def test_fastest_link_is_read_from_the_catalog():
    catalog = default_catalog()
    fastest = fastest_link_bytes_per_s(catalog)
    per_gpu = [catalog.links[g.nvlink].bandwidth_bytes_per_s * g.nvlink_num_links
               for g in catalog.gpus.values() if g.nvlink]
    assert fastest == max(per_gpu + [link.bandwidth_bytes_per_s
                                     for link in catalog.links.values()])
    assert fastest_link_bytes_per_s() == fastest


def _record(**changes) -> Record:
    values = {"operation": "all-reduce", "size_bytes": 1 << 20, "time_s": 100e-6,
              "num_ranks": 8, "num_hosts": 1, "source": "mpi-probe"}
    values.update(changes)
    return Record(**values)


def test_check_record_for_probes_names_the_problem():
    check_record(_record())  # a plausible probe record: no count, so no size check
    fastest = fastest_link_bytes_per_s()
    # busbw = size / time x 2(n-1)/n: just above the margin is refused, just below passes.
    size = 1 << 30
    limit_time_s = size * 1.75 / (BANDWIDTH_MARGIN * fastest)
    check_record(_record(size_bytes=size, time_s=limit_time_s * 1.01))
    with pytest.raises(ValueError, match=r"^probe\.jsonl:3: bus bandwidth"):
        check_record(_record(size_bytes=size, time_s=limit_time_s * 0.99),
                     where="probe.jsonl:3")
    with pytest.raises(ValueError, match="floor"):
        check_record(_record(time_s=TIME_FLOOR_S / 2))
    with pytest.raises(ValueError, match="ceiling"):
        check_record(_record(time_s=TIME_CEILING_S * 2))


def test_size_rule_per_collective():
    # all-gather's printed count is per rank: size = count x type x n.
    gather = _record(operation="all-gather", size_bytes=8 * 4 * 1024, dtype="float",
                     extra={"count": 1024})
    assert record_problems(gather) == []
    assert record_problems(_record(operation="all-reduce", size_bytes=8 * 4 * 1024,
                                   dtype="float", extra={"count": 1024}))
    # Unknown type names are not checked.
    assert record_problems(_record(dtype="mystery", extra={"count": 3})) == []
