"""The page layout of the planning report: sections, tables, figure slots and the inline scripts.

Everything printed goes through :func:`esc` (HTML text and attributes) or :func:`script_json`
(JSON inside ``<script>``): a topology named ``<script>alert(1)</script>`` shows as text.

>>> esc('<script>alert("x")</script>')
'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
>>> script_json({"name": "</script><!--"})
'{"name":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fabric.units import format_size
from studies.capex import (
    PUBLISHED_RAIL_ONLY_REDUCTION,
    CapexPlan,
    RailComparison,
    Recommendation,
)

__all__ = ["esc", "script_json", "plotly_bundle", "page"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 2rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f4f6f8}td.l,th.l{text-align:left}
tr.best td{background:#eef8ee;font-weight:600}
.meta{color:#555;font-size:.9rem}.note{color:#555;font-size:.88rem}
.fig{min-height:460px;margin:1rem 0}.bad{color:#a40000}
code{background:#f4f4f4;padding:0 .2rem}
"""


def esc(value: Any) -> str:
    """HTML-escape ``value`` for text and double-quoted attributes."""
    return html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """Compact JSON with sorted keys, safe inside ``<script>`` (``<``, ``>``, ``&`` escaped)."""
    from plotly.utils import PlotlyJSONEncoder

    text = json.dumps(value, cls=PlotlyJSONEncoder, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


@functools.lru_cache(maxsize=1)
def plotly_bundle() -> str:
    """plotly.js from the installed plotly package (offline bundle), safe to inline.

    Raises
    ------
    ValueError
        If the bundle contains ``</script`` (it would end the inline script early).
    """
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():
        raise ValueError("the plotly.js bundle contains '</script' and cannot be inlined")
    return js


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, left: int = 1,
           classes: Sequence[str] | None = None) -> str:
    head = "".join(f'<th class="l">{esc(h)}</th>' if i < left else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{esc(classes[r])}"' if classes and classes[r] else ""
        cells = "".join(f'<td class="l">{esc(c)}</td>' if i < left else f"<td>{esc(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _usd(value: float) -> str:
    return f"{value:,.0f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _summary(plan: CapexPlan, recs: Sequence[Recommendation]) -> str:
    best = {(r.requested_gpus, r.label) for r in recs}
    rows, classes = [], []
    for f in plan.fabrics:
        if f.bom is None:
            rows.append([f.label, f"{f.requested_gpus:,}", "-", "-", "-", "-", "-", "-", "-",
                         f"not buildable: {f.error}"])
            classes.append("")
            continue
        w = f.workload
        rows.append([
            f.label, f"{f.requested_gpus:,}", f"{f.num_gpus:,}",
            _usd(f.bom.network_cost_per_gpu_usd), _pct(f.bom.network_cost_share),
            f"{f.bom.network_power_per_gpu_w:,.1f}",
            f"{w.step.step_time_s:.2f}" if w else "-",
            _pct(w.step.gpu_utilization) if w else "-",
            f"{w.cost.cost_per_useful_gpu_hour_usd:.3f}" if w else "-",
            "recommended" if (f.requested_gpus, f.label) in best else "; ".join(f.notes),
        ])
        classes.append("best" if (f.requested_gpus, f.label) in best else "")
    table = _table(["fabric", "GPUs asked", "GPUs built", "network USD/GPU", "network share",
                    "network W/GPU", "step (s)", "GPU utilization", "USD per useful GPU-h",
                    "note"], rows, classes=classes)
    why = "".join(f"<li><b>{r.requested_gpus:,} GPUs: {esc(r.label)}</b>: {esc(r.reason)}</li>"
                  for r in recs)
    return (f'<section id="summary"><h2>Summary and recommendation</h2>{table}'
            f"<ul>{why}</ul></section>")


def _capex(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    rows = []
    for f in plan.fabrics:
        if f.bom is None:
            continue
        c = f.bom.cost_by_category
        rows.append([f.label, f"{f.num_gpus:,}", _usd(c["switch"]), _usd(c["transceiver"]),
                     _usd(c["cable"]), _usd(c["nic"]), _usd(f.bom.network_cost_usd),
                     _usd(c["node"] + c["gpu"]), _usd(f.bom.cost_usd)])
    table = _table(["fabric", "GPUs", "switches", "optics", "cables", "NICs", "network",
                    "servers/GPUs", "cluster"], rows)
    return (f'<section id="capex"><h2>Capex breakdown (USD)</h2>{_slot("fig-capex", figs)}'
            f"{table}</section>")


def _power(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    econ = plan.workload.economics
    rows = []
    for f in plan.fabrics:
        if f.bom is None:
            continue
        rows.append([f.label, f"{f.num_gpus:,}", f"{f.bom.network_power_w / 1e3:,.1f}",
                     _pct(f.bom.network_power_share), f"{f.bom.power_w / 1e3:,.1f}",
                     f"{f.bom.power_w * econ.pue / 1e3:,.1f}"])
    table = _table(["fabric", "GPUs", "network kW", "network share", "IT kW",
                    f"facility kW (PUE {econ.pue:g})"], rows)
    return f'<section id="power"><h2>Power</h2>{_slot("fig-power", figs)}{table}</section>'


def _collectives(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    rows = []
    for f in plan.fabrics:
        for c in f.curves:
            if not c.sizes_bytes:
                continue
            rows.append([f.label, f"{f.num_gpus:,}", c.collective, f"{c.num_ranks:,}",
                         f"{c.time_s[-1]:.4g}", f"{c.busbw_bytes_per_s[-1] / 1e9:,.1f}",
                         c.algorithm[-1]])
    largest = max((c.sizes_bytes[-1] for f in plan.fabrics for c in f.curves if c.sizes_bytes),
                  default=0)
    head = f"at {format_size(largest)}" if largest else ""
    table = _table(["fabric", "GPUs", "collective", "ranks", f"time (s) {head}",
                    "busbw (GB/s)", "algorithm"], rows) if rows else ""
    return (f'<section id="collectives"><h2>Collective time and bus bandwidth</h2>'
            f'<p class="note">Model flavor <code>{esc(plan.flavor)}</code>; all GPUs of each '
            f"fabric in builder order (packed); busbw per nccl-tests.</p>"
            f'{_slot("fig-collective-time", figs)}{_slot("fig-collective-busbw", figs)}'
            f"{table}</section>")


def _utilization(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    rows = []
    for f in plan.fabrics:
        if f.workload is None:
            continue
        s, c = f.workload.step, f.workload.cost
        p = s.parallelism
        rows.append([f.label, f"{f.num_gpus:,}", f"{p.data_parallel}x{p.tensor_parallel}x"
                     f"{p.pipeline_parallel}x{p.expert_parallel}", f"{s.compute_time_s:.3f}",
                     f"{s.dp_exposed_time_s:.3f}", f"{s.tp_time_s:.3f}", f"{s.ep_time_s:.3f}",
                     f"{s.bubble_time_s:.3f}", _pct(s.gpu_utilization),
                     f"{c.cost_per_gpu_hour_usd:.3f}", f"{c.cost_per_useful_gpu_hour_usd:.3f}",
                     f"{c.cost_per_million_tokens_usd:.4f}"])
    table = _table(["fabric", "GPUs", "DPxTPxPPxEP", "compute s", "DP exposed s", "TP s", "EP s",
                    "bubble s", "utilization", "USD/GPU-h", "USD/useful GPU-h", "USD/M tokens"],
                   rows)
    return (f'<section id="utilization"><h2>Utilization per dollar</h2>'
            f'{_slot("fig-utilization", figs)}{table}</section>')


def _measured(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    if not plan.measured:
        return ""
    rows = [[p.label, p.collective, format_size(p.size_bytes), f"{p.measured_time_s:.4g}",
             f"{p.predicted_time_s:.4g}", f"{p.predicted_low_s:.4g}-{p.predicted_high_s:.4g}",
             _pct(p.predicted_time_s / p.measured_time_s - 1) if p.measured_time_s > 0 else "-"]
            for p in plan.measured]
    table = _table(["fabric", "collective", "size", "measured s", "predicted s", "band s",
                    "error"], rows)
    label = f" ({esc(plan.calibration_label)})" if plan.calibration_label else ""
    return (f'<section id="measured"><h2>Measured vs predicted{label}</h2>'
            f'{_slot("fig-measured", figs)}{table}</section>')


def _rail_only(comparisons: Sequence[RailComparison]) -> str:
    if not comparisons:
        return ""
    low, high = PUBLISHED_RAIL_ONLY_REDUCTION
    rows = [[f"{c.num_gpus:,}", c.hb_domain_gpus, f"{c.switches_rail_optimized:,}",
             f"{c.switches_rail_only:,}", f"{c.links_rail_optimized:,}",
             f"{c.links_rail_only:,}", _pct(c.fabric_reduction), _pct(c.network_reduction),
             _pct(c.power_reduction), "yes" if c.in_published_range else "no"]
            for c in comparisons]
    table = _table(["GPUs", "HB domain", "switches rail-opt.", "switches rail-only",
                    "cables rail-opt.", "cables rail-only", "fabric cost saved",
                    "network cost saved (with NICs)", "network power saved",
                    f"in {100 * low:.0f}-{100 * high:.0f} %?"], rows)
    drivers = (
        "<ul>"
        "<li>Tier count of each design: rail-only builds one Clos per rail of N/M ports, so "
        "it saves switches only where that needs fewer tiers than one Clos of N ports (k, M and "
        "N decide it). Where both need the same tiers the saving is 0.</li>"
        "<li>HB-domain size M: larger domains (NVL72) give smaller rails and larger savings.</li>"
        "<li>What is counted: host links and NICs are the same in both designs and dilute the "
        "saving; the fabric column counts switches, optics and cables, the network column adds "
        "NICs.</li>"
        "<li>Switch price versus optics per link: switches are saved at the switch-count ratio, "
        "links at the link ratio; the catalog's prices weight them.</li>"
        "<li>Wang et al. do not publish their price table: their range is a "
        "reference, not a target.</li></ul>")
    return (f'<section id="rail-only"><h2>Rail-only vs rail-optimized</h2>'
            f'<p class="note">Published: {100 * low:.0f}-{100 * high:.0f} % lower network cost, '
            f"37-75 % lower network power (Wang et al., arXiv:2307.12169 v5, §4.1).</p>"
            f"{table}<p>What drives the difference:</p>{drivers}</section>")


def _assumptions(plan: CapexPlan) -> str:
    w = plan.workload
    fields = [[f.name, getattr(w, f.name)] for f in dataclasses.fields(w)
              if f.name != "economics"]
    fields += [[f"economics.{f.name}", getattr(w.economics, f.name)]
               for f in dataclasses.fields(w.economics)]
    wtable = _table(["workload field", "value"], fields, left=2)
    used: dict[tuple[str, str], Any] = {}
    rules: dict[str, None] = {}
    for f in plan.fabrics:
        if f.bom is None:
            continue
        for item in f.bom.items:
            used.setdefault((item.category, item.key), item)
        for rule in f.bom.rules:
            rules.setdefault(rule, None)
    entries = [[cat, key, item.name, f"{item.unit_cost_usd:,.2f}", f"{item.unit_power_w:,.1f}",
                item.source, item.year] for (cat, key), item in sorted(used.items())]
    etable = _table(["category", "key", "name", "unit USD", "unit W", "source", "year"],
                    entries, left=3)
    rule_list = "".join(f"<li>{esc(r)}</li>" for r in rules)
    notes = "".join(f"<li>{esc(n)}</li>" for n in plan.notes)
    model = (
        "<ul><li>Step time = compute (6 x params x tokens / (GPUs x peak x MFU)) + pipeline "
        "bubble + exposed DP gradient collective + TP all-reduces + EP all-to-alls; GPU "
        "utilization = compute / step.</li>"
        "<li>One group of each kind is predicted on the fabric; the other groups are assumed "
        "not to slow it (exact for rail-aligned groups, optimistic where groups share "
        "uplinks).</li>"
        "<li>Cost per hour = capex / (amortization years x 8,760 h) + IT power x PUE x "
        "electricity price.</li></ul>")
    return (f'<section id="assumptions"><h2>Assumptions and sources</h2>'
            f"<p>Catalog version <code>{esc(plan.catalog.version)}</code>.</p>{model}"
            f"<h3>Workload</h3>{wtable}<h3>Bill-of-materials rules</h3><ul>{rule_list}</ul>"
            f"<h3>Catalog entries used</h3>{etable}"
            + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "") + "</section>")


def _slot(fig_id: str, figs: Mapping[str, Any]) -> str:
    return f'<div class="fig" id="{esc(fig_id)}"></div>' if fig_id in figs else ""


def page(plan: CapexPlan, figs: Mapping[str, dict[str, Any]], recs: Sequence[Recommendation],
         comparisons: Sequence[RailComparison]) -> str:
    """Assemble the HTML page (see :func:`reports.html.render_report`)."""
    meta = [f"Workload: {esc(plan.workload.name)}", f"catalog {esc(plan.catalog.version)}",
            f"model flavor {esc(plan.flavor)}"]
    if plan.calibration_label:
        meta.append(f"calibration {esc(plan.calibration_label)}")
    if plan.generated_at:
        meta.append(f"generated {esc(plan.generated_at)}")
    command = f'<p class="meta"><code>{esc(plan.command)}</code></p>' if plan.command else ""
    failed = [f for f in plan.fabrics if f.bom is None]
    failed_html = ("<ul class=\"bad\">" + "".join(
        f"<li>{esc(f.label)} at {f.requested_gpus:,} GPUs: {esc(f.error)}</li>" for f in failed)
        + "</ul>") if failed else ""
    calls = "\n".join(
        f"Plotly.newPlot({script_json(fig_id)},F[{script_json(fig_id)}].data,"
        f"F[{script_json(fig_id)}].layout,{{displaylogo:false,responsive:true}});"
        for fig_id in sorted(figs))
    body = "".join([
        _summary(plan, recs), failed_html, _capex(plan, figs), _power(plan, figs),
        _collectives(plan, figs), _utilization(plan, figs), _measured(plan, figs),
        _rail_only(comparisons), _assumptions(plan),
    ])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{esc(plan.title)}</title><style>{_CSS}</style>"
        f"<script>{plotly_bundle()}</script></head>\n<body>"
        f"<h1>{esc(plan.title)}</h1><p class=\"meta\">{' · '.join(meta)}</p>{command}"
        f"{body}\n<script>var F={script_json(figs)};\n{calls}\n</script></body></html>\n"
    )
