"""compare and report take the routing policy (issue 15): the same numbers as predict under it,
and the families that tie under the ideal split separate under hashing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabric.cli import cli

FAMILIES = "rail-optimized,clos"
ARGS = ["--gpus", "256", "--collectives", "all-reduce", "--sizes", "256MiB"]


def _run(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


def _compare(routing: str) -> dict[str, dict]:
    data = _run("compare", *ARGS, "--families", FAMILIES, "--routing", routing)
    return {f["family"]: f["predictions"][0] for f in data["fabrics"]}


def test_compare_under_hashing_agrees_with_predict_and_separates_the_families() -> None:
    ideal, hashed = _compare("ecmp-ideal"), _compare("ecmp-hash")
    assert ideal["rail-optimized"]["time_s"] == pytest.approx(ideal["clos"]["time_s"], rel=0.01)
    # a rail-optimized fabric keeps each rail's ring under its rail leaves: fewer flows to hash
    # onto spine uplinks than the Clos, whose leaves take whole servers
    assert hashed["rail-optimized"]["time_s"] < hashed["clos"]["time_s"]
    for family, row in hashed.items():
        assert row["time_s"] >= ideal[family]["time_s"] * (1 - 1e-9)
        assert row["time_p99_s"] >= row["time_s"]
        alone = _run("predict", "--topology", family, "--gpus", "256", "--collectives",
                     "all-reduce", "--sizes", "256MiB", "--routing", "ecmp-hash")
        (p,) = alone["predictions"]
        assert p["time_s"] == pytest.approx(row["time_s"], rel=1e-9), family
        assert p["time_p99_s"] == pytest.approx(row["time_p99_s"], rel=1e-9), family


def test_report_takes_the_routing_and_agrees_with_compare(tmp_path: Path) -> None:
    hashed = _compare("ecmp-hash")
    data = _run("report", *ARGS, "--families", FAMILIES, "--routing", "ecmp-hash", "-o",
                str(tmp_path / "plan.html"))
    for f in data["fabrics"]:
        (curve,) = f["curves"]
        (time_s,) = curve["time_s"]
        assert time_s == pytest.approx(hashed[f["label"]]["time_s"], rel=1e-9)
        (p99,) = curve["time_p99_s"]  # the spread over hash seeds, as compare gives it
        assert p99 == pytest.approx(hashed[f["label"]]["time_p99_s"], rel=1e-9)
        assert p99 >= time_s


@pytest.mark.parametrize(("args", "message"), [
    (["compare", "--flavor", "nccl", "--routing", "adaptive"],
     "--routing applies to --flavor ideal or mpi only (got --flavor nccl)"),
    (["compare", "--routing-seed", "3"],
     "--routing-seed applies to --routing ecmp-hash only (got --routing ecmp-ideal)"),
    (["report", "--gpus", "64", "--json", "--flavor", "nccl", "--routing", "ecmp-hash"],
     "--routing applies to --flavor ideal or mpi only (got --flavor nccl)"),
    (["report", "--sweep", "x.db", "-o", "x.html", "--routing", "adaptive"],
     "--routing does not apply to --sweep"),
])
def test_routing_flags_that_do_nothing_are_refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
