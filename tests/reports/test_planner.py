"""What a capex planner acts on: BOM tables, cost vs scale, sensitivity, step breakdown, CSV
downloads, the workloads' own economics, and a recommendation that weighs utilization per dollar.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner

from collectives.workload import HOURS_PER_YEAR, default_workload, load_workload
from fabric.catalog import default_catalog
from fabric.cli import cli
from reports import figures
from reports.html import render_report, report_data
from studies.capex import (
    CapexPlan,
    cost_vs_scale,
    default_report_workloads,
    moe_workload,
    plan_capex,
    price_scenarios,
    recommendations,
    scale_ladder,
    step_breakdown,
)
from studies.design import FabricDesign, build_fabric, for_study
from studies.evaluate import evaluate_fabric
from studies.sensitivity import oversubscription_sweep, repriced_cost

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIZES = (1024, 1 << 20, 1 << 26)


@pytest.fixture(scope="module")
def plan() -> CapexPlan:
    return plan_capex([256, 512], ["rail-optimized", "rail-only", "clos"], sizes_bytes=SIZES,
                      collectives=("all-reduce", "all-to-all"))


@pytest.fixture(scope="module")
def page(plan) -> str:
    return render_report(plan)


def _csv_links(page: str) -> dict[str, list[list[str]]]:
    out = {}
    for name, uri in re.findall(r'<a class="csv" download="([^"]+)" href="([^"]+)">', page):
        assert uri.startswith("data:text/csv;charset=utf-8,")
        text = urllib.parse.unquote(uri.split(",", 1)[1].replace("&amp;", "&"))
        out[name] = list(csv.reader(io.StringIO(text)))
    return out


# --- the default workloads ------------------------------------------------------------------

def test_default_workloads_are_a_dense_and_an_moe_step():
    dense, moe = default_report_workloads()
    assert dense == default_workload()  # what `fabric compare` times: the two agree
    assert dense.tensor_parallel == 8 and dense.moe_layers == 0
    # DeepSeek-V3 (arXiv:2412.19437 v2, §2.1): 61 layers, width 7168, top-8 of 256 experts
    assert (moe.num_layers, moe.hidden_size, moe.moe_top_k, moe.expert_parallel) == (
        61, 7168, 8, 256)


def test_moe_example_file_is_the_default():
    """examples/workload_moe_ep256.yaml writes out moe_workload() (all but its source note)."""
    written = load_workload(EXAMPLES / "workload_moe_ep256.yaml")
    assert dataclasses.replace(written, source=moe_workload().source) == moe_workload()


def test_default_workloads_differentiate_the_fabrics():
    """The MoE step's all-to-all crosses leaves, so an oversubscribed Clos feeds its GPUs worse
    than a non-blocking one; the dense step (TP inside the server, DP one GPU per server) does
    not care. Before, the default workload gave every fabric the same utilization."""
    dense, moe = default_report_workloads()
    utils = {}
    for ratio in (1.0, 3.0):
        G = build_fabric(for_study(FabricDesign(family="clos", num_gpus=1024,
                                                oversubscription=ratio)))
        for w in (dense, moe):
            r = evaluate_fabric(G, sizes_bytes=(), collectives=(), workload=w)
            utils[(ratio, w.name)] = r.workload.step.gpu_utilization
    assert utils[(3.0, moe.name)] < 0.9 * utils[(1.0, moe.name)]
    assert utils[(3.0, dense.name)] == pytest.approx(utils[(1.0, dense.name)], rel=1e-3)
    assert utils[(1.0, moe.name)] < utils[(1.0, dense.name)]


def test_plan_times_every_workload_on_every_fabric(plan):
    assert [run.workload.name for run in plan.all_runs] == [w.name for w in
                                                           default_report_workloads()]
    for run in plan.all_runs:
        assert len(run.results) == len(plan.fabrics)
        assert all(r is not None for r in run.results)
    # the first workload's results are the fabrics' own (what --json's "step" shows)
    assert plan.all_runs[0].results == tuple(f.workload for f in plan.fabrics)
    moe = plan.all_runs[1].results[0]
    assert moe.step.ep_time_s > 0 and moe.step.parallelism.expert_parallel == 256


def test_a_workload_that_does_not_fit_says_why():
    plan = plan_capex([128], ["clos"], sizes_bytes=(1024,), sensitivity=False)
    dense, moe = plan.all_runs
    assert dense.results[0] is not None and moe.results[0] is None
    reason = "expert_parallel 256 must divide data_parallel 128"
    assert reason in moe.errors[0]
    assert reason in render_report(plan)
    (entry,) = report_data(plan)["workload_runs"][1]["not_timed"]
    assert entry["requested_gpus"] == 128 and reason in entry["reason"]
    # the recommendation uses the workloads every fabric could run
    assert "mean" not in recommendations(plan)[0].reason


# --- recommendation ---------------------------------------------------------------------------

def _clos(ratio: float, label: str):
    G = build_fabric(for_study(FabricDesign(family="clos", num_gpus=1024,
                                            oversubscription=ratio)))
    return evaluate_fabric(G, label=label, sizes_bytes=(), collectives=(),
                           workload=moe_workload())


def test_recommendation_weighs_utilization_not_price_alone():
    full, thin = _clos(1.0, "clos 1:1"), _clos(3.0, "clos 3:1")
    assert thin.bom.network_cost_usd < full.bom.network_cost_usd  # 3:1 is the cheaper network
    plan = CapexPlan(fabrics=(full, thin), workload=moe_workload(), catalog=default_catalog())
    (rec,) = recommendations(plan)
    assert rec.label == "clos 1:1"  # ... but keeps GPUs waiting on the all-to-all
    assert "utilization" in rec.reason and "network prices" in rec.reason


def test_recommendation_is_the_lowest_mean_over_workloads(plan):
    for rec in recommendations(plan):
        idx = [i for i, f in enumerate(plan.fabrics) if f.requested_gpus == rec.requested_gpus]
        mean = {plan.fabrics[i].label: sum(run.results[i].cost.cost_per_useful_gpu_hour_usd
                                           for run in plan.all_runs) / len(plan.all_runs)
                for i in idx}
        assert rec.label == min(mean, key=mean.get)
        assert f"{mean[rec.label]:.3f} USD" in rec.reason
        assert "mean cost per useful GPU-hour" in rec.reason


# --- sensitivity ----------------------------------------------------------------------------

def test_price_scenarios_reprice_by_hand(plan):
    scenarios = price_scenarios(plan)
    assert len(scenarios) == len(plan.fabrics) * len(plan.all_runs)
    s = scenarios[0]
    f, r = plan.fabrics[0], plan.all_runs[0].results[0]
    econ = r.cost.economics
    network = f.bom.network_cost_usd
    capex = 1.2 * network + (f.bom.cost_usd - network)
    hourly = capex / (econ.amortization_years * HOURS_PER_YEAR) + (
        f.bom.power_w * econ.pue / 1000 * econ.usd_per_kwh)
    assert s.network_high_usd == pytest.approx(hourly / f.num_gpus / r.step.gpu_utilization,
                                               rel=1e-12)
    assert s.network_low_usd < s.base_usd < s.network_high_usd
    assert s.servers_low_usd < s.network_low_usd  # servers are most of the capex
    assert s.base_usd == pytest.approx(repriced_cost(f.bom, r), rel=1e-12)


def test_oversubscription_sweep_only_where_the_family_takes_it():
    dense, moe = default_report_workloads()
    points = oversubscription_sweep(1024, ["rail-optimized", "clos"], [dense, moe],
                                    base=FabricDesign(family="clos"), catalog=default_catalog(),
                                    ratios=(1.0, 2.0, 3.0))
    assert [(p.family, p.oversubscription) for p in points] == [
        ("clos", 1.0), ("clos", 2.0), ("clos", 3.0)]
    moe_util = [p.utilization[1] for p in points]
    assert moe_util[0] > moe_util[1] > moe_util[2]
    with pytest.raises(ValueError, match="oversubscription ratios must be numbers >= 1"):
        oversubscription_sweep(64, ["clos"], [dense], base=FabricDesign(family="clos"),
                               catalog=default_catalog(), ratios=(0.5,))


def test_cost_vs_scale_ladder(plan):
    assert scale_ladder([256, 512]) == (256, 512, 1024)
    assert scale_ladder([300, 5000]) == (300, 512, 1024, 2048, 4096, 5000, 8192)
    assert {p.requested_gpus for p in plan.cost_curve} == {256, 512, 1024}
    by = {(p.label, p.requested_gpus): p for p in plan.cost_curve}
    for f in plan.fabrics:  # the plan's own fabrics are reused ...
        p = by[(f.label, f.requested_gpus)]
        assert p.network_cost_per_gpu_usd == pytest.approx(f.bom.network_cost_per_gpu_usd)
    # ... and building afresh gives the same prices
    fresh = cost_vs_scale((256, 1024), ["clos"], base=FabricDesign(family="clos"),
                          catalog=default_catalog())
    for p in fresh:
        assert p.network_cost_per_gpu_usd == pytest.approx(
            by[("clos", p.requested_gpus)].network_cost_per_gpu_usd, rel=1e-12)
        assert p.cost_per_gpu_usd > p.network_cost_per_gpu_usd > 0


def test_step_breakdown_adds_up(plan):
    for run in plan.all_runs:
        for r in run.results:
            parts = step_breakdown(r, run.workload)
            assert sum(p.time_s for p in parts) == pytest.approx(r.step.step_time_s, rel=1e-12)
            assert parts[0].name == "compute" and parts[0].time_s == r.step.compute_time_s


# --- the page ---------------------------------------------------------------------------------

def test_every_table_has_a_csv_download(page):
    tables = page.count("<table>")
    links = _csv_links(page)
    assert tables > 10 and len(re.findall(r'<a class="csv"', page)) == tables
    assert len(links) == tables  # distinct file names


def test_bom_table_per_fabric_matches_the_bill(plan, page):
    links = _csv_links(page)
    for f in plan.fabrics:
        name = re.sub(r"[^a-z0-9]+", "-", f"bom {f.label} {f.num_gpus}".lower()) + ".csv"
        header, *rows = links[name]
        assert header[:7] == ["SKU", "name", "category", "tier / link class", "quantity",
                              "unit USD", "total USD"]
        items, total = rows[:-1], rows[-1]
        assert len(items) == len(f.bom.items)
        for row, item in zip(items, f.bom.items, strict=True):
            assert row[0] == item.key and int(row[4]) == item.quantity
            assert float(row[5]) == pytest.approx(item.unit_cost_usd, abs=0.005)
            assert row[9] == item.source
        assert float(total[6]) == pytest.approx(f.bom.cost_usd, abs=0.5)


def test_sections_of_the_planner_report(page):
    for section in ("summary", "capex", "bom", "power", "steps", "utilization", "sensitivity",
                    "collectives", "assumptions"):
        assert f'<section id="{section}">' in page
    for fig in ("fig-cost-scale", "fig-step", "fig-oversubscription"):
        assert f'<div class="fig" id="{fig}"></div>' in page


def test_small_multiples_and_byte_axes(plan):
    fig = figures.collective_time_figure(plan.fabrics)
    xaxes = [k for k in fig["layout"] if k.startswith("xaxis")]
    assert len(xaxes) == 4  # 2 collectives x 2 scales
    for trace in fig["data"]:  # each chart: one line per fabric, at most three
        same = [t for t in fig["data"] if t["xaxis"] == trace["xaxis"]]
        assert len(same) == len({t["name"] for t in same}) <= 3
    axis = fig["layout"]["xaxis"]
    # 1 KiB .. 64 MiB holds only two powers of 1024: ticks every 32x, in binary units
    assert axis["ticktext"] == ["1 KiB", "32 KiB", "1 MiB", "32 MiB"]
    assert axis["tickvals"] == [1 << 10, 1 << 15, 1 << 20, 1 << 25]
    assert all(not re.fullmatch(r"\d+[kMG]?B?", t) for t in axis["ticktext"])


def test_utilization_right_axis_has_room(plan):
    fig = figures.utilization_figure(plan.fabrics, plan.all_runs)
    assert fig["layout"]["margin"]["r"] >= 80
    rights = [v for k, v in fig["layout"].items() if k.startswith("yaxis")
              and v.get("side") == "right"]
    assert rights and all(v["automargin"] for v in rights)


def test_economics_line_uses_the_workloads_values(tmp_path):
    w = load_workload(EXAMPLES / "workload_moe.yaml")  # 5 years, 0.10 USD/kWh, PUE 1.2
    plan = plan_capex([64], ["clos"], workload=w, sizes_bytes=(1024,), sensitivity=False)
    page = render_report(plan)
    body = page[page.index("</head>"):]
    assert "5-year straight-line amortization, 0.10 USD/kWh, PUE 1.2" in body
    assert "4-year" not in body and "0.08 USD/kWh" not in body and "PUE 1.1" not in body
    assert "facility kW (PUE 1.2)" in body


def test_report_data_has_the_studies(plan):
    data = json.loads(json.dumps(report_data(plan), allow_nan=False))
    assert len(data["workload_runs"]) == 2
    assert data["workload_runs"][1]["results"][0]["breakdown"][-1]["name"] == "EP all-to-all"
    assert {p["oversubscription"] for p in data["oversubscription_sensitivity"]} == {
        1.0, 1.5, 2.0, 3.0}
    assert len(data["price_sensitivity"]) == 2 * len(plan.fabrics)
    assert all(math.isfinite(p["network_cost_per_gpu_usd"]) for p in data["cost_vs_scale"])


def test_cli_repeatable_workload(tmp_path):
    args = ["report", "--gpus", "64", "--families", "clos", "--sizes", "1MiB", "--json",
            "--workload", str(EXAMPLES / "workload_dense70b.yaml"),
            "--workload", str(EXAMPLES / "workload_moe.yaml")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    data = data.get("results", data)  # the report's numbers (inside the JSON envelope)
    names = [run["workload"]["name"] for run in data["workload_runs"]]
    assert names == [load_workload(EXAMPLES / n).name
                     for n in ("workload_dense70b.yaml", "workload_moe.yaml")]
