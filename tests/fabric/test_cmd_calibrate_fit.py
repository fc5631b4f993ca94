"""``fabric calibrate`` says which fit predicts and both errors; the mpi flavor end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabric.cli import cli
from measure.calibration import load_calibration
from measure.parsers import parse_log_file
from measure.records import write_records

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"


@pytest.fixture()
def run():
    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def _records(tmp_path: Path, name: str, **flags: object) -> Path:
    path = tmp_path / "records.jsonl"
    write_records(parse_log_file(LOGS / name, **flags).records, path)  # type: ignore[arg-type]
    return path


def test_calibrate_prints_the_fit_used_and_both_errors(run, tmp_path):
    records = _records(tmp_path, "nccl-tests/abci_anode-a100_4node_all_reduce.log",
                       operation="all-reduce", num_ranks=32, num_hosts=4)
    out = tmp_path / "cal.json"
    result = run("calibrate", records, "--flavor", "nccl", "--holdout", "every:3", "-o", out)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("fit used:"))
    cal = load_calibration(out)
    used = "the model with its regimes" if cal.chosen_fit == "model" else "plain alpha-beta"
    assert used in line
    assert f"model {cal.model_cv_error * 100:.1f}%" in line
    assert f"plain alpha-beta {cal.naive_cv_error * 100:.1f}%" in line
    assert "regime" in result.stdout and cal.regimes
    body = json.loads(run("calibrate", records, "--flavor", "nccl", "--json").stdout)["results"]
    assert body["chosen_fit"] in ("model", "naive") and body["regimes"]


def test_mpi_records_one_line_for_nccl_and_calibrate_with_mpi(run, tmp_path):
    records = _records(tmp_path, "osu/abci_anode-a100_4node_osu_allreduce_cuda.txt",
                       num_ranks=32, num_hosts=4)
    result = run("calibrate", records, "--flavor", "nccl")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--flavor mpi" in result.stderr
    out = tmp_path / "mpi.json"
    assert run("calibrate", records, "--flavor", "mpi", "-o", out).exit_code == 0
    assert load_calibration(out).flavor == "mpi"
    result = run("predict", "--topology", "generic", "--nodes", 16, "--gpus-per-node", 8,
                 "--collective", "all-reduce", "--sizes", "1MiB", "--flavor", "mpi",
                 "--calibration", out, "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["results"]["predictions"][0]
    assert row["flavor"] == "mpi" and row["num_ranks"] == 128
    # 128 ranks, 2 octaves outside the fitted 32: the band is wider than the fit's own
    h = load_calibration(out).band_log_halfwidth
    assert row["time_high_s"] / row["time_s"] > 1.1 * math.exp(h)

