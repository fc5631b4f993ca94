"""The HTML report: content, escaping, determinism, and the ``fabric report`` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

import topologies
from collectives.workload import default_workload
from fabric.catalog import default_catalog
from fabric.cli import cli
from reports.html import render_report, report_data
from reports.template import script_json
from studies.capex import (
    PUBLISHED_RAIL_ONLY_REDUCTION,
    CapexPlan,
    MeasuredPoint,
    rail_only_comparisons,
    recommendations,
)
from studies.evaluate import evaluate_fabric, failed_fabric

XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
SIZES = (1024, 1 << 20, 1 << 26)


def make_plan(label: str = "rail-optimized", measured=()) -> CapexPlan:
    fabrics = []
    for family, n in (("rail-optimized", 64), ("rail-only", 64), ("rail-optimized", 128),
                      ("rail-only", 128), ("clos", 64)):
        G = topologies.for_gpus(family, n)
        name = label if family == "rail-optimized" else family
        fabrics.append(evaluate_fabric(G, family=family, requested_gpus=n, label=name,
                                       sizes_bytes=SIZES, workload=default_workload()))
    fabrics.append(failed_fabric("single-hop", 100_000, "needs a radix of 100000"))
    return CapexPlan(fabrics=tuple(fabrics), workload=default_workload(),
                       catalog=default_catalog(), measured=tuple(measured))


@pytest.fixture(scope="module")
def plan() -> CapexPlan:
    return make_plan()


@pytest.fixture(scope="module")
def page(plan) -> str:
    return render_report(plan)


def test_sections_and_figures(page):
    for section in ("summary", "capex", "power", "collectives", "utilization", "rail-only",
                    "assumptions"):
        assert f'<section id="{section}">' in page
    for fig in ("fig-capex", "fig-power", "fig-collective-time", "fig-collective-busbw",
                "fig-utilization"):
        assert f'<div class="fig" id="{fig}"></div>' in page
        assert f'Plotly.newPlot("{fig}"' in page
    assert "fig-measured" not in page  # only with a calibration
    assert "not buildable: needs a radix of 100000" in page


def test_self_contained_offline(page):
    assert "<script src" not in page and "<link" not in page
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js inline (~4.8 MB)


def test_deterministic_bytes(plan, page):
    assert render_report(plan) == page
    assert render_report(make_plan()) == page  # rebuilt from scratch
    assert "generated" not in page[page.index("</head>"):]
    stamped = render_report(CapexPlan(**{**{f: getattr(plan, f) for f in plan.__slots__},
                                           "generated_at": "2026-11-25"}))
    assert "generated 2026-11-25" in stamped


def test_names_are_escaped_everywhere():
    page = render_report(make_plan(label=XSS))
    body = page[page.index("</head>"):]
    assert "<script>document.title" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in body
    # inside the embedded plotly JSON no '<' survives: '</script' or '<!--' cannot end the script
    data = body[body.index("var F="):]
    assert "<" not in data[: data.index("</script>")]


def test_script_json_escapes_script_end_and_comment():
    text = script_json({"a": "</script><!-- & >"})
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == {"a": "</script><!-- & >"}


def test_measured_section_when_calibration_given():
    points = [MeasuredPoint(label="lab", collective="all-reduce", size_bytes=s,
                            measured_time_s=1e-5 * (i + 1), predicted_time_s=1.1e-5 * (i + 1),
                            predicted_low_s=0.9e-5 * (i + 1), predicted_high_s=1.3e-5 * (i + 1))
              for i, s in enumerate(SIZES)]
    page = render_report(make_plan(measured=points))
    assert '<div class="fig" id="fig-measured"></div>' in page
    assert "Measured vs predicted" in page


def test_recommendation_is_cheapest_per_useful_gpu_hour(plan):
    recs = {r.requested_gpus: r for r in recommendations(plan)}
    for n, rec in recs.items():
        costs = {f.label: f.workload.cost.cost_per_useful_gpu_hour_usd
                 for f in plan.fabrics if f.requested_gpus == n and f.workload is not None}
        assert rec.label == min(costs, key=costs.get)
        assert "cost per useful GPU-hour" in rec.reason


def test_rail_only_comparison_in_report(plan, page):
    comps = rail_only_comparisons(plan.fabrics)
    assert [c.num_gpus for c in comps] == [64, 128]
    for c in comps:
        # 64 and 128 GPUs: 8 rail switches vs leaves + spines (derived rail-only counting)
        assert c.switches_rail_only == 8 and c.switches_rail_optimized > 8
        assert 0 < c.fabric_reduction < 1
    low, high = PUBLISHED_RAIL_ONLY_REDUCTION
    assert f"{100 * low:.0f}-{100 * high:.0f} %" in page
    assert "Tier count of each design" in page and "What is counted" in page


def test_sources_table_lists_catalog_entries_with_year(page):
    cat = default_catalog()
    qm = cat.switches["qm9700"]
    assert qm.source.split(";")[0].replace("'", "&#x27;") in page
    assert "<td>2024</td>" in page


def test_report_data_is_json(plan):
    data = report_data(plan)
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["fabrics"][0]["bom"]["num_gpus"] == 64


# --- CLI ---------------------------------------------------------------------------------

def _invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_writes_report_and_json(tmp_path):
    out = tmp_path / "plan.html"
    result = _invoke(["report", "--gpus", "64,128", "--families", "rail-optimized,rail-only",
                      "--sizes", "1KiB:64MiB:64", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["results"]
    assert [f["requested_gpus"] for f in data["fabrics"]] == [64, 128, 64, 128]
    assert out.read_text().startswith("<!DOCTYPE html>")
    again = tmp_path / "again.html"
    _invoke(["report", "--gpus", "64,128", "--families", "rail-optimized,rail-only",
             "--sizes", "1KiB:64MiB:64", "-o", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_cli_table_by_default(tmp_path):
    result = _invoke(["report", "--gpus", "64", "--families", "clos", "-o",
                      str(tmp_path / "p.html")])
    assert result.exit_code == 0
    assert "recommended" in result.stdout and "USD/useful GPU-h" in result.stdout


def test_cli_user_catalog_changes_the_report(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text("[switches.qm9700]\ncost_usd = 10000\n")
    args = ["report", "--gpus", "64", "--families", "clos", "--sizes", "1MiB", "--json"]
    base = json.loads(_invoke(args).stdout)["results"]
    cheap = json.loads(_invoke(args + ["--catalog", str(prices)]).stdout)["results"]
    assert cheap["fabrics"][0]["bom"]["cost_usd"] < base["fabrics"][0]["bom"]["cost_usd"]


def _bad_workload(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("global_batch_size: -4\n")
    return ["--workload", str(path)], "global_batch_size"


def _bad_catalog(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[switches.qm9700]\ncost_usd = "ask"\n')
    return ["--catalog", str(path)], "qm9700"


@pytest.mark.parametrize("case", ["family", "workload", "catalog", "folder", "gpus",
                                  "nothing-built"])
def test_cli_errors_leave_no_file(tmp_path, case):
    out = tmp_path / "plan.html"
    extra, match = {
        "family": (["--families", "mesh"], "unknown topology family 'mesh'"),
        "workload": _bad_workload(tmp_path),
        "catalog": _bad_catalog(tmp_path),
        "folder": ([], "does not exist"),
        "gpus": (["--gpus", "many"], "--gpus"),
        # every family infeasible: a report of "n/a"s is not written, and the exit is 1
        "nothing-built": (["--families", "single-hop", "--gpus", "100000"], "nothing written"),
    }[case]
    target = tmp_path / "missing" / "plan.html" if case == "folder" else out
    args = ["report", "--gpus", "64", *extra, "-o", str(target)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output
    assert re.search(re.escape(match), result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".*.tmp"))


def test_cli_needs_an_output(tmp_path):
    result = CliRunner().invoke(cli, ["report", "--gpus", "64"])
    assert result.exit_code == 2


def test_cli_help():
    result = _invoke(["report", "-h"])
    assert result.exit_code == 0 and "--gpus" in result.output


def test_single_hop_claim_section_when_single_hop_is_planned(tmp_path):
    """With single-hop among the families, the report sets the claim (40% less network capex,
    70% less power) against the plan's own fat-tree and rail-optimized fabrics: the break-even
    equals the standalone study's, the baselines' times are their curves' at 1 GiB, and the
    page has the section with one row per fabric and scale."""
    from studies.single_hop_claim import single_hop_claim

    out = tmp_path / "plan.html"
    result = _invoke(["report", "--gpus", "1024", "--families",
                      "rail-optimized,fat-tree,single-hop", "--sizes", "1MiB,1GiB",
                      "--collectives", "all-reduce,all-to-all", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    schema = json.loads((Path(__file__).parents[2] / "docs" / "schemas" /
                         "report.schema.json").read_text())
    jsonschema.validate(doc, schema)
    data = doc["results"]
    (claim,) = data["single_hop_claim"]
    (study,) = single_hop_claim([1024], collectives=("all-reduce", "all-to-all"))
    assert claim["num_gpus"] == study.num_gpus == 1024
    assert claim["breakeven_port_cost_usd"] == pytest.approx(study.breakeven_port_cost_usd)
    assert claim["breakeven_port_power_w"] == pytest.approx(study.breakeven_port_power_w)
    assert claim["cost_claim_holds"] is True and claim["power_claim_holds"] is False
    assert claim["single_hop_times_s"] == pytest.approx(dict(study.single_hop_times_s))
    fabrics = {f["family"]: f for f in data["fabrics"]}
    for b in claim["baselines"]:
        curve = {c["collective"]: c for c in fabrics[b["family"]]["curves"]}
        for coll, t in b["times_s"].items():
            at_1g = curve[coll]["sizes_bytes"].index(1 << 30)
            assert t == pytest.approx(curve[coll]["time_s"][at_1g])
    page = out.read_text()
    section = page[page.index('<section id="single-hop-claim">'):]
    section = section[:section.index("</section>")]
    assert "single-hop (hypothetical switch)" in section and "cannot hold" in section
    assert section.count("<tr>") == 1 + 3  # header, two baselines, the single-hop fabric
    # without single-hop among the families there is no claim to test
    plain = json.loads(_invoke(["report", "--gpus", "64", "--families", "clos", "--sizes",
                                "1MiB", "--json"]).stdout)["results"]
    assert plain["single_hop_claim"] == []
