"""Every command's ``--json`` is one envelope, valid against its schema in docs/schemas/.

Each command runs for real on a small fabric (or a checked-in benchmark log) and its document
is validated with jsonschema against ``docs/schemas/<command>.schema.json``. Numbers in the
results carry their unit in the key (``_bytes``, ``_s``, ``_bytes_per_s``, ``_usd``, ``_w``)
unless they are counts, ratios or fractions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from fabric.cli import cli
from fabric.cli.common import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
LOG = ROOT / "tests" / "data" / "logs" / "nccl-tests" / "together_h100_all_reduce_ring.out"


def _schema(command: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{command.replace(' ', '-')}.schema.json").read_text())


def run_json(*args: object) -> dict[str, Any]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def check(doc: dict[str, Any], command: str) -> dict[str, Any]:
    jsonschema.Draft202012Validator(_schema(command)).validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["command"] == command
    return doc


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schemas") / "records.jsonl"
    check(run_json("import", LOG, "-o", out, "--json"), "import")
    return out


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    files = sorted(SCHEMAS.glob("*.schema.json"))
    assert len(files) >= 14
    for path in files:
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["command"]["const"].replace(" ", "-") + ".schema.json" == \
            path.name


def test_predict() -> None:
    doc = check(run_json("predict", "--topology", "fat-tree", "--k", "4", "--sizes", "1K,1M",
                         "--collectives", "all-reduce,all-to-all", "--json"), "predict")
    rows = doc["results"]["predictions"]
    assert [(r["collective"], r["size_bytes"]) for r in rows] == [
        ("all-reduce", 1024), ("all-reduce", 2**20), ("all-to-all", 1024), ("all-to-all", 2**20)]
    assert doc["inputs"]["sizes_bytes"] == [1024, 2**20] and doc["inputs"]["k"] == 4


def test_compare() -> None:
    doc = check(run_json("compare", "--gpus", "64", "--families", "clos,rail-only",
                         "--collectives", "all-reduce", "--sizes", "1MiB,1GiB", "--json"),
                "compare")
    for fabric in doc["results"]["fabrics"]:
        assert [p["size_bytes"] for p in fabric["predictions"]] == [2**20, 2**30]


def test_kv() -> None:
    doc = check(run_json("kv", "--model", "llama-3.1-8b", "--context", "8k", "--json"), "kv")
    assert doc["inputs"]["context_tokens"] == doc["results"]["context_tokens"] == 8192


def test_topology_show_and_check() -> None:
    check(run_json("topology", "show", "fat-tree", "--k", "4", "--json"), "topology show")
    check(run_json("topology", "show", "fat-tree", "--k", "4", "--check", "--json"),
          "topology show")


def test_report() -> None:
    doc = check(run_json("report", "--gpus", "64", "--families", "clos", "--sizes", "1MiB",
                         "--json"), "report")
    assert doc["results"]["fabrics"][0]["requested_gpus"] == 64


def test_calibrate_and_validate(records: Path, tmp_path: Path) -> None:
    cal = tmp_path / "cal.json"
    check(run_json("calibrate", records, "-o", cal, "--json"), "calibrate")
    check(run_json("validate", records, "--calibration", cal, "--json"), "validate")


def test_emulate_list() -> None:
    check(run_json("emulate", "list", "--json"), "emulate list")


def test_measure_mpi_one_rank(tmp_path: Path) -> None:
    pytest.importorskip("mpi4py")
    doc = check(run_json("measure", "mpi", "--collectives", "all-reduce", "--sizes", "8,64",
                         "--iters", "2", "--warmup", "0", "--json"), "measure mpi")
    assert [r["size_bytes"] for r in doc["results"]["records"]] == [8, 64]


# keys of numbers that are counts, ratios or fractions (no unit to carry)
_DIMENSIONLESS = re.compile(
    r"^(num_.*|(.*_)?gpus|k|tiers|planes|batch|tp|pp|mfu|.*efficiency|.*_ratio|.*utilization.*"
    r"|.*_factor|.*_tokens|.*_per_node|.*_size|hop_diameter|oversubscription|seed|ranks"
    r"|reserved_leaf_ports|leaf_uplinks|gpus_per_host|num_hosts|.*_seed)$")
# the fabric's parameters (k, planes...) and counts by tier/model/link
_COUNT_MAPS = re.compile(r"^(params|(switches|cables|ports_used|ports_available)_by_\w+)$")
_UNIT = re.compile(r"(_bytes|_s|_usd|_w|_bytes_per_s|_per_token|_per_gpu|_flops_per_s"
                   r"|_bytes_moved)$")


def _unitless_numbers(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [bad for key, item in value.items() if not _COUNT_MAPS.match(key)
                for bad in _unitless_numbers(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [bad for item in value for bad in _unitless_numbers(item, path)]
    key = path.rsplit(".", 1)[-1]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (_UNIT.search(key) or _DIMENSIONLESS.match(key)):
            return [path]
    return []


@pytest.mark.parametrize("args", [
    ("predict", "--topology", "rail-optimized", "--gpus", "64", "--sizes", "1MiB"),
    ("compare", "--gpus", "64", "--families", "clos", "--collectives", "all-reduce"),
    ("kv", "--model", "llama-3.1-8b", "--context", "8k"),
], ids=["predict", "compare", "kv"])
def test_numbers_carry_their_unit(args: tuple[str, ...]) -> None:
    doc = run_json(*args, "--json")
    assert _unitless_numbers(doc["results"]) == []
    assert _unitless_numbers(doc["inputs"]) == []


def test_sweep_show(tmp_path: Path) -> None:
    db = tmp_path / "tiny.db"
    result = CliRunner().invoke(cli, ["sweep", str(ROOT / "examples" / "sweeps" / "tiny.yaml"),
                                      "-o", str(db), "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = check(run_json("sweep", "show", db, "--json"), "sweep show")
    assert doc["results"]["num_designs"] == 4 and doc["results"]["num_failed"] == 0
    for row in doc["results"]["front"]:
        assert row["design"]["num_gpus"] <= row["num_gpus"]  # built: whole pods or more
        assert len(row["collective_times_s"]["all-reduce"]) == 2  # 1 MiB and 1 GiB


def test_predict_hash_routing_rows() -> None:
    doc = check(run_json("predict", "--topology", "clos", "--gpus", "64", "--sizes", "1M",
                         "--routing", "ecmp-hash", "--json"), "predict")
    (row,) = doc["results"]["predictions"]
    assert row["routing"] == "ecmp-hash" and row["time_p99_s"] >= row["time_s"] > 0
