"""The sweep page of ``fabric report --sweep results.db``: the front, each BOM one click away.

Reads the SQLite store of :mod:`studies.sweep_store`; the BOM of each front design is rebuilt
with the same :func:`studies.sweep.design_of` and ``bill_of_materials`` the sweep priced it with.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_sweep_page", "sweep_report_html"]


def _bom_html(inputs: Mapping[str, Any], catalog_path: str | None) -> str:
    from fabric.cost import bill_of_materials
    from studies.design import build_fabric
    from studies.sweep import design_of, sweep_catalog

    try:
        catalog = sweep_catalog(catalog_path)
        bom = bill_of_materials(build_fabric(design_of(dict(inputs), catalog)), catalog=catalog)
    except (ValueError, OSError) as err:
        return f"<p>BOM unavailable: {html.escape(str(err).splitlines()[0])}</p>"
    lines = "".join(
        f"<tr><td>{html.escape(i.category)}</td><td>{html.escape(i.name or i.key)}</td>"
        f"<td>{html.escape(i.tier)}</td><td>{i.quantity}</td>"
        f"<td>{i.unit_cost_usd * i.quantity:,.0f}</td></tr>" for i in bom.items)
    return ("<table><tr><th>category</th><th>item</th><th>tier</th><th>qty</th>"
            f"<th>cost USD</th></tr>{lines}</table>")


def render_sweep_page(rows: Sequence[Mapping[str, Any]], front: Sequence[Mapping[str, Any]],
                      meta: Mapping[str, Any], *, title: str = "Design-space sweep") -> str:
    """One self-contained HTML page (plotly inline): all designs, the front, its BOMs."""
    import plotly.graph_objects as go

    ok = [r for r in rows if not r.get("error") and r.get("step_time_s") is not None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[r["cost_usd"] / 1e6 for r in ok], y=[r["step_time_s"] for r in ok], mode="markers",
        name="designs", marker={"color": [r["utilization_per_musd"] for r in ok],
                                "colorscale": "Viridis", "showscale": True,
                                "colorbar": {"title": "util / M$"}},
        text=[r["inputs_json"] for r in ok]))
    fig.add_trace(go.Scatter(
        x=[r["cost_usd"] / 1e6 for r in front], y=[r["step_time_s"] for r in front],
        mode="markers", name="Pareto front",
        marker={"symbol": "diamond-open", "size": 14, "color": "red"},
        text=[r["inputs_json"] for r in front]))
    fig.update_layout(xaxis_title="capex (M$)", yaxis_title="step time (s)", yaxis_type="log")
    plot = fig.to_html(include_plotlyjs=True, full_html=False)
    catalog = meta.get("catalog")
    catalog_path = None if catalog in (None, "default") else str(catalog)
    items = "".join(
        f"<details><summary>{html.escape(str(r['family']))} {r['num_gpus']} GPUs: "
        f"{r['cost_usd'] / 1e6:.2f} M$, step {r['step_time_s']:.3f} s, util/M$ "
        f"{r['utilization_per_musd']:.4f} <code>{html.escape(str(r['inputs_json']))}</code>"
        f"</summary>{_bom_html(json.loads(str(r['inputs_json'])), catalog_path)}</details>"
        for r in front)
    failed = sum(1 for r in rows if r.get("error"))
    facts = html.escape(json.dumps(dict(meta), sort_keys=True))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{len(rows)} designs, {failed} failed, {len(front)} on the Pareto front "
            f"(capex, step time, utilization per dollar).</p>{plot}<h2>Front designs</h2>"
            f"{items}<h2>Sweep</h2><pre>{facts}</pre></body></html>")


def sweep_report_html(db_path: str, *, title: str = "Design-space sweep") -> str:
    """The page for the store at ``db_path`` (ValueError when it is not a sweep's store)."""
    from pathlib import Path

    from studies.sweep_pareto import pareto_front
    from studies.sweep_store import read_meta, read_rows, read_store

    if not Path(db_path).is_file():
        raise ValueError(f"--sweep {db_path!r}: not a file")
    con = read_store(db_path)
    try:
        rows, meta = read_rows(con), read_meta(con)
    finally:
        con.close()
    return render_sweep_page(rows, pareto_front(rows), meta, title=title)
