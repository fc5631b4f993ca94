"""compare takes spec files beside families: a racked fabric beside the designs it is weighed
against (issue 16: an imported fabric flows into compare)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fabric.cli import cli

DISCOVERY = Path(__file__).resolve().parents[1] / "data" / "discovery"


def _compare(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["compare", *args, "--json"])
    assert result.exit_code == 0, result.output
    return {f["family"]: f for f in json.loads(result.stdout)["results"]["fabrics"]}


def test_a_built_spec_compares_as_its_family(tmp_path: Path) -> None:
    spec = tmp_path / "c256.yaml"
    built = CliRunner().invoke(cli, ["topology", "build", "clos", "--gpus", "256", "-o",
                                     str(spec)])
    assert built.exit_code == 0, built.output
    fabrics = _compare("--gpus", "256", "--families", f"clos,{spec}",
                       "--collectives", "all-reduce,all-to-all", "--sizes", "64MiB")
    family, saved = fabrics["clos"], fabrics["c256.yaml"]
    for key in ("num_gpus", "num_switches", "num_cables", "network_cost_usd", "gpu_utilization",
                "step_time_s"):
        assert saved[key] == family[key], key
    assert saved["predictions"] == family["predictions"]


def test_a_spec_runs_over_all_its_gpus_as_report_and_predict_run_it(tmp_path: Path) -> None:
    spec = tmp_path / "c128.yaml"
    CliRunner().invoke(cli, ["topology", "build", "clos", "--gpus", "128", "-o", str(spec)])
    saved = _compare("--gpus", "64", "--families", str(spec), "--collectives", "all-to-all",
                     "--sizes", "64MiB")["c128.yaml"]
    assert saved["num_gpus"] == saved["requested_gpus"] == 128
    assert saved["notes"][0] == ("a spec file is compared as it is: its 128 GPUs, not the 64 "
                                 "asked")
    predicted = CliRunner().invoke(cli, ["predict", "--topology", str(spec), "--collectives",
                                         "all-to-all", "--sizes", "64MiB", "--json"])
    assert predicted.exit_code == 0, predicted.output
    mine = json.loads(predicted.stdout)["results"]["predictions"][0]
    assert saved["predictions"][0]["num_ranks"] == mine["num_ranks"] == 128
    assert saved["predictions"][0]["time_s"] == mine["time_s"]


def test_an_imported_dump_compares(tmp_path: Path) -> None:
    spec = tmp_path / "ufm.yaml"
    imported = CliRunner().invoke(cli, ["topology", "import", str(
        DISCOVERY / "ibnetdiscover_nvidia_ufm_lab_2016.txt"), "-o", str(spec)])
    assert imported.exit_code == 0, imported.output
    fabric = _compare("--gpus", "6", "--families", str(spec), "--collectives", "all-reduce",
                      "--sizes", "64MiB")["ufm.yaml"]
    assert fabric["num_gpus"] == 6 and fabric["num_switches"] == 2
    # FDR links are not priced by the catalog: said, not guessed
    assert "ib-4xfdr" in fabric["cost_error"]
    assert fabric["predictions"]


def test_family_options_do_not_apply_to_a_spec(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    CliRunner().invoke(cli, ["topology", "build", "clos", "--gpus", "64", "-o", str(spec)])
    result = CliRunner().invoke(cli, ["compare", "--gpus", "64", "--families", str(spec),
                                      "--switch", "qm9700"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: --switch applies to none of c.yaml (a spec file is compared as it is)")
    missing = CliRunner().invoke(cli, ["compare", "--families", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "not found" in missing.output


# -- report --------------------------------------------------------------------------------------
def _report(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "plan.html"
    result = CliRunner().invoke(cli, ["report", *args, "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 0
    return json.loads(result.stdout)["results"]


def test_report_plans_a_spec_at_its_own_size_beside_the_families(tmp_path: Path) -> None:
    spec = tmp_path / "racked.yaml"
    built = CliRunner().invoke(cli, ["topology", "build", "clos", "--gpus", "128", "-o",
                                     str(spec)])
    assert built.exit_code == 0, built.output
    data = _report(tmp_path, "--gpus", "256", "--families", f"clos,rail-optimized,{spec}")
    fabrics = {(f["label"], f["requested_gpus"]): f for f in data["fabrics"]}
    # the spec's 128 GPUs join the planned sizes: every family is built there too
    assert set(fabrics) == {("clos", 128), ("clos", 256), ("rail-optimized", 128),
                            ("rail-optimized", 256), ("racked.yaml", 128)}
    saved, family = fabrics[("racked.yaml", 128)], fabrics[("clos", 128)]
    for key in ("num_gpus", "bom", "cost", "step", "curves"):
        assert saved[key] == family[key], key
    assert {r["requested_gpus"] for r in data["recommendations"]} == {128, 256}
    # cost vs scale and the oversubscription study are about families, not a racked fabric
    assert "racked.yaml" not in {p["label"] for p in data["cost_vs_scale"]}


def test_report_refuses_family_options_for_a_spec_alone(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    CliRunner().invoke(cli, ["topology", "build", "clos", "--gpus", "64", "-o", str(spec)])
    result = CliRunner().invoke(cli, ["report", "--gpus", "64", "--families", str(spec),
                                      "--switch", "qm9700", "--json"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: --switch applies to none of c.yaml (a spec file is compared as it is)")


def test_report_inputs_carry_the_parsed_counts_and_families(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--gpus", "64,128", "--families",
                                      "clos,rail-optimized", "--json"])
    assert result.exit_code == 0, result.output
    inputs = json.loads(result.stdout)["inputs"]
    assert inputs["gpus"] == [64, 128] and inputs["families"] == ["clos", "rail-optimized"]
