"""The HTML planning report: render a :class:`studies.capex.CapexPlan` as one self-contained page.

The numbers come from :mod:`studies` (:func:`studies.capex.plan_capex`,
:func:`studies.evaluate.evaluate_fabric`); this module only renders them:
:func:`render_report` as HTML, :func:`report_data` as plain JSON data.

The file works offline: plotly.js is embedded inline from plotly's offline bundle (no CDN), and
the bytes depend only on the input (fixed element ids, sorted JSON keys, no timestamp unless
``generated_at`` is given). Every string is HTML-escaped; JSON embedded in ``<script>`` has
``<``, ``>`` and ``&`` written as ``\\u003c``/``\\u003e``/``\\u0026`` so no text can close the
script element or open a comment.

>>> from fabric.catalog import default_catalog
>>> from collectives.workload import default_workload
>>> plan = CapexPlan(fabrics=(), workload=default_workload(), catalog=default_catalog())
>>> page = render_report(plan)
>>> page.startswith("<!DOCTYPE html>"), "<script src" in page, page == render_report(plan)
(True, False, True)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from reports import figures
from reports.template import page
from studies.capex import (
    PUBLISHED_RAIL_ONLY_REDUCTION,
    CapexPlan,
    price_scenarios,
    rail_only_comparisons,
    recommendations,
    step_breakdown,
)
from studies.evaluate import CollectiveCurve
from studies.single_hop_claim import ClaimRow

__all__ = ["report_data", "render_report"]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _curve_data(curve: CollectiveCurve) -> dict[str, Any]:
    preds = curve.predictions
    return {
        "collective": curve.collective, "num_ranks": curve.num_ranks, "error": curve.error,
        "sizes_bytes": list(curve.sizes_bytes), "time_s": list(curve.time_s),
        "time_low_s": [p.time_low_s for p in preds], "time_high_s": [p.time_high_s for p in preds],
        # ecmp-hash: the 99th percentile over hash seeds, as predict and compare give it
        "time_p99_s": [p.time_p99_s for p in preds],
        "busbw_bytes_per_s": list(curve.busbw_bytes_per_s), "algorithm": list(curve.algorithm),
        "bottleneck": [p.bottleneck for p in preds], "bound_ratio": [p.bound_ratio for p in preds],
    }


def report_data(plan: CapexPlan) -> dict[str, Any]:
    """The report's numbers as plain JSON data (what ``fabric report --json`` prints)."""
    fabrics = []
    for f in plan.fabrics:
        entry: dict[str, Any] = {
            "label": f.label, "family": f.family, "requested_gpus": f.requested_gpus,
            "num_gpus": f.num_gpus, "params": dict(f.params), "error": f.error,
            "cost_error": f.cost_error, "notes": list(f.notes),
        }
        if f.bom is not None:
            entry["bom"] = f.bom.as_dict()
        entry["curves"] = [_curve_data(c) for c in f.curves]
        if f.workload is not None:
            step = dataclasses.asdict(f.workload.step)
            step["communication_exposed_time_s"] = f.workload.step.communication_exposed_time_s
            entry["step"] = step
            entry["cost"] = dataclasses.asdict(f.workload.cost)
        fabrics.append(entry)
    runs = []
    for run in plan.all_runs:
        results = []
        for f, r in zip(plan.fabrics, run.results, strict=True):
            if r is None:
                continue
            step = dataclasses.asdict(r.step)
            step["communication_exposed_time_s"] = r.step.communication_exposed_time_s
            results.append({
                "label": f.label, "requested_gpus": f.requested_gpus, "num_gpus": f.num_gpus,
                "step": step, "cost": dataclasses.asdict(r.cost),
                "breakdown": [dataclasses.asdict(p) for p in step_breakdown(r, run.workload)],
            })
        not_timed = [{"label": f.label, "requested_gpus": f.requested_gpus, "reason": reason}
                     for f, r, reason in zip(plan.fabrics, run.results,
                                             run.errors or ("",) * len(plan.fabrics),
                                             strict=True) if r is None and reason]
        runs.append({"workload": dataclasses.asdict(run.workload), "results": results,
                     "not_timed": not_timed})
    comparisons = []
    for c in rail_only_comparisons(plan.fabrics):
        d = dataclasses.asdict(c)
        d["in_published_range"] = c.in_published_range
        comparisons.append(d)
    return _finite({
        "title": plan.title, "flavor": plan.flavor, "catalog_version": plan.catalog.version,
        "workload": dataclasses.asdict(plan.workload), "fabrics": fabrics,
        "recommendations": [dataclasses.asdict(r) for r in recommendations(plan)],
        "rail_only_comparisons": comparisons,
        "published_rail_only_reduction": list(PUBLISHED_RAIL_ONLY_REDUCTION),
        "measured": [dataclasses.asdict(p) for p in plan.measured],
        "workload_runs": runs,
        "cost_vs_scale": [dataclasses.asdict(p) for p in plan.cost_curve],
        "price_sensitivity": [dataclasses.asdict(p) for p in price_scenarios(plan)],
        "oversubscription_sensitivity": [dataclasses.asdict(p) for p in plan.oversubscription],
        "single_hop_claim": [_claim_data(r) for r in plan.single_hop_claim],
    })


def _claim_data(row: ClaimRow) -> dict[str, Any]:
    """One scale of the single-hop claim, times as {collective: seconds}."""
    d = dataclasses.asdict(row)
    d["single_hop_times_s"] = dict(row.single_hop_times_s)
    d["baselines"] = [{**dataclasses.asdict(b), "times_s": dict(b.times_s)}
                      for b in row.baselines]
    d["cost_claim_holds"], d["power_claim_holds"] = row.cost_claim_holds, row.power_claim_holds
    return d


def render_report(plan: CapexPlan) -> str:
    """Render ``plan`` as one self-contained, deterministic HTML page.

    Parameters
    ----------
    plan : CapexPlan

    Returns
    -------
    str
        The HTML text (UTF-8 when written). Figures: capex and power per GPU, capex per GPU
        vs scale, collective time and busbw (one small chart per collective and scale),
        utilization per dollar and the step-time breakdown per workload, oversubscription,
        and measured vs predicted when ``plan.measured`` is non-empty. Every table has a CSV
        download link (a ``data:`` URI, so the page stays one offline file).
    """
    shown = [f for f in plan.fabrics if f.bom is not None]
    runs = plan.all_runs
    figs: list[tuple[str, dict[str, Any]]] = []
    if shown:
        figs.append(("fig-capex", figures.capex_figure(shown)))
        figs.append(("fig-power", figures.power_figure(shown)))
    if any(not p.error for p in plan.cost_curve):
        figs.append(("fig-cost-scale", figures.cost_scale_figure(plan.cost_curve)))
    if any(c.predictions for f in shown for c in f.curves):
        figs.append(("fig-collective-time", figures.collective_time_figure(shown)))
        figs.append(("fig-collective-busbw", figures.collective_busbw_figure(shown)))
    if any(r is not None for run in runs for r in run.results):
        figs.append(("fig-utilization", figures.utilization_figure(plan.fabrics, runs)))
        figs.append(("fig-step", figures.step_figure(plan.fabrics, runs)))
    if any(not p.error for p in plan.oversubscription):
        figs.append(("fig-oversubscription",
                     figures.oversubscription_figure(plan.oversubscription)))
    if plan.measured:
        figs.append(("fig-measured", figures.measured_figure(plan.measured)))
    return page(plan, dict(figs), recommendations(plan), rail_only_comparisons(plan.fabrics))
