"""Every public log in tests/data/logs imports with no flags where the log itself carries the
information, and gives the collective and rank count that tests/data/logs/CATALOG.json records
from each source (see SOURCES.md). Logs that cannot (OSU without a launcher line: OSU never
prints its rank count) are refused with one line naming --ranks and import with it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from collectives.names import busbw_factor
from fabric.cli import cli
from measure.parsers import parse_log_file
from measure.records import read_records

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
CATALOG = json.loads((LOGS / "CATALOG.json").read_text(encoding="utf-8"))
_LAUNCHER = re.compile(r"\b(?:mpirun|mpiexec|srun)\b[^\n]*\s-(?:np?|N)\s*\d")


def _carries_ranks(entry: dict) -> bool:
    """Whether the log can say its rank count: anything but an OSU collective without a
    launcher line stating ``-np``/``-n``."""
    if entry["format"] != "osu" or entry["collective"] == "send-recv":
        return True
    return bool(_LAUNCHER.search((LOGS / entry["file"]).read_text(encoding="utf-8")))


def _ids(entries: list[dict]) -> list[str]:
    return [e["file"] for e in entries]


SELF_CONTAINED = [e for e in CATALOG if _carries_ranks(e)]
NEEDS_RANKS = [e for e in CATALOG if not _carries_ranks(e)]


def test_catalog_lists_every_log_once():
    files = {str(p.relative_to(LOGS)) for p in LOGS.glob("*/*") if p.is_file()}
    assert sorted(files) == sorted(e["file"] for e in CATALOG)


@pytest.mark.parametrize("entry", SELF_CONTAINED, ids=_ids(SELF_CONTAINED))
def test_log_imports_with_no_flags(entry):
    log = parse_log_file(LOGS / entry["file"])
    assert set(log.operations) == set(entry["collective"].split("+"))
    assert not log.skipped
    if entry["num_ranks"] is not None:
        assert log.rank_counts == (entry["num_ranks"],)
    if entry["num_hosts"] is not None and all(r.placement for r in log.records):
        assert log.host_counts == (entry["num_hosts"],)
    if not entry["named_in_text"]:
        assert all("operation" in r.inferred for r in log.records)
        assert any(" operation " in line for line in log.inferred)
    for record in log.records:
        if record.inferred and "printed_busbw_bytes_per_s" in record.extra:
            # The inferred collective and rank count reproduce the busbw nccl-tests printed
            # (from the printed time, so within its rounding and the 0.01 GB/s print step).
            printed = record.extra["printed_busbw_bytes_per_s"]
            ours = (record.size_bytes / record.time_s
                    * busbw_factor(record.operation, record.num_ranks))
            assert ours == pytest.approx(printed, rel=2e-3, abs=0.01e9)


@pytest.mark.parametrize("entry", NEEDS_RANKS, ids=_ids(NEEDS_RANKS))
def test_osu_log_without_ranks_is_refused_then_imports_with_them(entry, tmp_path):
    out = tmp_path / "r.jsonl"
    result = CliRunner().invoke(cli, ["import", str(LOGS / entry["file"]), "-o", str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--ranks" in lines[0]
    assert not out.exists()
    args = ["--ranks", str(entry["num_ranks"])]
    if entry["num_hosts"] is not None:
        args += ["--hosts", str(entry["num_hosts"])]
    result = CliRunner().invoke(cli, ["import", str(LOGS / entry["file"]), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert {r.operation for r in records} == {entry["collective"]}
    assert {r.num_ranks for r in records} == {entry["num_ranks"]}


def test_the_counts_add_up():
    # Every catalogued log is in exactly one of the two groups above, and only OSU collectives
    # (whose format never prints ranks) need a flag.
    assert len(SELF_CONTAINED) + len(NEEDS_RANKS) == len(CATALOG)
    assert all(e["format"] == "osu" for e in NEEDS_RANKS)
