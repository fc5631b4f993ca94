"""The page layout of the planning report: sections, tables, figure slots and the inline scripts.

Everything printed goes through :func:`esc` (HTML text and attributes) or :func:`script_json`
(JSON inside ``<script>``): a topology named ``<script>alert(1)</script>`` shows as text.

>>> esc('<script>alert("x")</script>')
'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
>>> script_json({"name": "</script><!--"})
'{"name":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import html
import io
import json
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from collectives.workload import Economics, Workload
from fabric.units import format_size
from studies.capex import (
    PUBLISHED_RAIL_ONLY_REDUCTION,
    CapexPlan,
    RailComparison,
    Recommendation,
    price_scenarios,
    step_breakdown,
)
from studies.sensitivity import PRICE_FACTORS

__all__ = ["esc", "script_json", "plotly_bundle", "page", "csv_text", "economics_text"]

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
a.csv{font-size:.8rem;margin-left:.3rem}details{margin:.4rem 0}summary{cursor:pointer}
.econ{background:#f7f7f2;border-left:3px solid #bcbd22;padding:.3rem .7rem}
"""
_NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?( %)?$")


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


def csv_text(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table as CSV text; numbers printed with thousands separators lose them.

    >>> csv_text(["fabric", "USD"], [["clos, 2:1", "1,234.5"], ["rail", "12 %"]]).splitlines()
    ['fabric,USD', '"clos, 2:1",1234.5', 'rail,12 %']
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(h) for h in headers])
    for row in rows:
        writer.writerow([str(c).replace(",", "") if _NUMBER.match(str(c)) else str(c)
                         for c in row])
    return out.getvalue()


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, name: str, left: int = 1,
           text: Sequence[int] = (), classes: Sequence[str] | None = None) -> str:
    """An HTML table and its CSV link; the first ``left`` columns and those in ``text`` are
    left-aligned text, the others right-aligned numbers."""
    rows = [list(r) for r in rows]
    lefts = set(range(left)) | set(text)
    head = "".join(f'<th class="l">{esc(h)}</th>' if i in lefts else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{esc(classes[r])}"' if classes and classes[r] else ""
        cells = "".join(f'<td class="l">{esc(c)}</td>' if i in lefts else f"<td>{esc(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    uri = "data:text/csv;charset=utf-8," + urllib.parse.quote(csv_text(headers, rows), safe="")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "table"
    link = (f'<a class="csv" download="{esc(slug)}.csv" href="{esc(uri)}">'
            f"download CSV</a>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{link}")


def economics_text(economics: Economics) -> str:
    """The money assumptions as one line, from the values actually used.

    >>> economics_text(Economics(amortization_years=5, usd_per_kwh=0.1, pue=1.2))
    '5-year straight-line amortization, 0.10 USD/kWh, PUE 1.2'
    """
    return (f"{economics.amortization_years:g}-year straight-line amortization, "
            f"{economics.usd_per_kwh:.2f} USD/kWh, PUE {economics.pue:g}")


def _economics_source(economics: Economics) -> str:
    default = Economics()
    if economics.source != default.source:
        return economics.source
    same = (economics.amortization_years, economics.usd_per_kwh, economics.pue) == (
        default.amortization_years, default.usd_per_kwh, default.pue)
    return ("the tool's defaults (assumptions)" if same
            else "set by the workload file (assumptions)")


def _usd(value: float) -> str:
    return f"{value:,.0f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _short(workload: Workload) -> str:
    return workload.name if len(workload.name) <= 40 else workload.name[:39] + "…"


def _summary(plan: CapexPlan, recs: Sequence[Recommendation]) -> str:
    best = {(r.requested_gpus, r.label) for r in recs}
    runs = plan.all_runs
    rows, classes = [], []
    for i, f in enumerate(plan.fabrics):
        if f.bom is None:
            rows.append([f.label, f"{f.requested_gpus:,}", "-", "-", "-", "-"]
                        + ["-"] * (2 * len(runs)) + [f"not buildable: {f.error}"])
            classes.append("")
            continue
        cells = [f.label, f"{f.requested_gpus:,}", f"{f.num_gpus:,}",
                 _usd(f.bom.network_cost_per_gpu_usd), _pct(f.bom.network_cost_share),
                 f"{f.bom.network_power_per_gpu_w:,.1f}"]
        for run in runs:
            r = run.results[i]
            cells += [_pct(r.step.gpu_utilization) if r else "-",
                      f"{r.cost.cost_per_useful_gpu_hour_usd:.3f}" if r else "-"]
        mark = (f.requested_gpus, f.label) in best
        cells.append("recommended" if mark else "; ".join(f.notes))
        rows.append(cells)
        classes.append("best" if mark else "")
    headers = ["fabric", "GPUs asked", "GPUs built", "network USD/GPU", "network share",
               "network W/GPU"]
    for run in runs:
        headers += [f"utilization: {_short(run.workload)}",
                    f"USD/useful GPU-h: {_short(run.workload)}"]
    table = _table(headers + ["note"], rows, classes=classes, name="summary")
    why = "".join(f"<li><b>{r.requested_gpus:,} GPUs: {esc(r.label)}</b>: {esc(r.reason)}</li>"
                  for r in recs)
    formula = "capex / (years x 8,760 h) + IT power x PUE x electricity price"
    lines = {economics_text(run.workload.economics) for run in runs}
    if len(lines) == 1:
        econ = (f'<p class="econ">Cost per hour (every workload): {esc(lines.pop())} '
                f"({formula}).</p>")
    else:
        econ = "".join(
            f'<p class="econ">Cost per hour for <b>{esc(run.workload.name)}</b>: '
            f"{esc(economics_text(run.workload.economics))} ({formula}).</p>" for run in runs)
    return (f'<section id="summary"><h2>Summary and recommendation</h2>{econ}{table}'
            f"<p>The recommendation ranks fabrics by cost per useful GPU-hour: what a GPU-hour "
            f"costs divided by the share of it the GPUs compute, so a cheaper fabric that keeps "
            f"GPUs waiting can lose to a dearer one that feeds them. With several workloads the "
            f"mean over them decides.</p><ul>{why}</ul></section>")


def _bom_tables(plan: CapexPlan) -> str:
    parts = []
    for f in plan.fabrics:
        if f.bom is None:
            continue
        rows = [[i.key, i.name, i.category, i.tier, f"{i.quantity:,}",
                 f"{i.unit_cost_usd:,.2f}", _usd(i.cost_usd), f"{i.unit_power_w:,.1f}",
                 f"{i.power_w / 1e3:,.2f}", i.source, i.year or "-"] for i in f.bom.items]
        rows.append(["total", "", "", "", "", "", _usd(f.bom.cost_usd), "",
                     f"{f.bom.power_w / 1e3:,.2f}", "", ""])
        table = _table(["SKU", "name", "category", "tier / link class", "quantity", "unit USD",
                        "total USD", "unit W", "total kW", "source", "year"], rows, left=4,
                       text=(9,),
                       name=f"bom {f.label} {f.num_gpus}")
        parts.append(f"<details><summary>{esc(f.label)} · {f.num_gpus:,} GPUs: "
                     f"{_usd(f.bom.cost_usd)} USD, network {_usd(f.bom.network_cost_usd)} USD "
                     f"({len(f.bom.items)} lines)</summary>{table}</details>")
    if not parts:
        return ""
    return (f'<section id="bom"><h2>Bill of materials per fabric</h2><p class="note">SKU x '
            f"quantity x unit price, with each price's source and year from the catalog "
            f"(<code>{esc(plan.catalog.version)}</code>; pass <code>--catalog</code> with your "
            f"negotiated prices). Click a fabric to open its list.</p>{''.join(parts)}</section>")


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
                    "servers/GPUs", "cluster"], rows, name="capex breakdown")
    scale = ""
    if plan.cost_curve:
        srows = [[p.label, f"{p.requested_gpus:,}", f"{p.num_gpus:,}" if not p.error else "-",
                  _usd(p.network_cost_per_gpu_usd) if not p.error else "-",
                  _usd(p.cost_per_gpu_usd) if not p.error else "-",
                  f"{p.network_power_per_gpu_w:,.1f}" if not p.error else "-",
                  p.error or ""] for p in plan.cost_curve]
        scale = ("<h3>Capex per GPU vs scale</h3>"
                 f'{_slot("fig-cost-scale", figs)}'
                 + _table(["fabric", "GPUs asked", "GPUs built", "network USD/GPU",
                           "cluster USD/GPU", "network W/GPU", "note"], srows,
                          name="cost vs scale"))
    return (f'<section id="capex"><h2>Capex breakdown (USD)</h2>{_slot("fig-capex", figs)}'
            f"{table}{scale}</section>")


def _power(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    rows = []
    for f in plan.fabrics:
        if f.bom is None:
            continue
        rows.append([f.label, f"{f.num_gpus:,}", f"{f.bom.network_power_w / 1e3:,.1f}",
                     _pct(f.bom.network_power_share), f"{f.bom.power_w / 1e3:,.1f}"]
                    + [f"{f.bom.power_w * e.pue / 1e3:,.1f}" for e in _pues(plan)])
    table = _table(["fabric", "GPUs", "network kW", "network share", "IT kW"]
                   + [f"facility kW (PUE {e.pue:g})" for e in _pues(plan)], rows, name="power")
    return f'<section id="power"><h2>Power</h2>{_slot("fig-power", figs)}{table}</section>'


def _pues(plan: CapexPlan) -> list[Economics]:
    seen: dict[float, Economics] = {}
    for run in plan.all_runs:
        seen.setdefault(run.workload.economics.pue, run.workload.economics)
    return list(seen.values())


def _collectives(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    rows = []
    for f in plan.fabrics:
        for c in f.curves:
            if not c.sizes_bytes:
                continue
            for size, t, bw, alg in zip(c.sizes_bytes, c.time_s, c.busbw_bytes_per_s,
                                        c.algorithm, strict=True):
                rows.append([f.label, f"{f.num_gpus:,}", c.collective, f"{c.num_ranks:,}",
                             format_size(size), f"{t:.4g}", f"{bw / 1e9:,.1f}", alg])
    table = _table(["fabric", "GPUs", "collective", "ranks", "size", "time (s)",
                    "busbw (GB/s)", "algorithm"], rows, left=1, text=(2, 7),
                   name="collectives") if rows else ""
    if table:
        table = f"<details><summary>All predicted points ({len(rows)})</summary>{table}</details>"
    return (f'<section id="collectives"><h2>Collective time and bus bandwidth</h2>'
            f'<p class="note">Model flavor <code>{esc(plan.flavor)}</code>; all GPUs of each '
            f"fabric in builder order (packed); busbw per nccl-tests. One chart per collective "
            f"and scale, one line per fabric.</p>"
            f'{_slot("fig-collective-time", figs)}{_slot("fig-collective-busbw", figs)}'
            f"{table}</section>")


def _utilization(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    rows = []
    for run in plan.all_runs:
        for f, r in zip(plan.fabrics, run.results, strict=True):
            if r is None:
                continue
            s, c, p = r.step, r.cost, r.step.parallelism
            rows.append([run.workload.name, f.label, f"{f.num_gpus:,}",
                         f"{p.data_parallel}x{p.tensor_parallel}x{p.pipeline_parallel}x"
                         f"{p.expert_parallel}", f"{s.step_time_s:.3f}",
                         _pct(s.gpu_utilization), f"{c.cost_per_gpu_hour_usd:.3f}",
                         f"{c.cost_per_useful_gpu_hour_usd:.3f}",
                         f"{c.useful_gpu_hours_per_kusd:.1f}",
                         f"{c.cost_per_million_tokens_usd:.4f}"])
    table = _table(["workload", "fabric", "GPUs", "DPxTPxPPxEP", "step s", "utilization",
                    "USD/GPU-h", "USD/useful GPU-h", "useful GPU-h per kUSD", "USD/M tokens"],
                   rows, left=2, name="utilization per dollar")
    skipped = [f"<li>{esc(run.workload.name)} on {esc(f.label)} at {f.requested_gpus:,} GPUs: "
               f"{esc(reason)}</li>"
               for run in plan.all_runs
               for f, r, reason in zip(plan.fabrics, run.results,
                                       run.errors or ("",) * len(plan.fabrics), strict=True)
               if r is None and reason and f.bom is not None]
    missing = (f'<p class="note">Not timed:</p><ul class="note">{"".join(skipped)}</ul>'
               if skipped else "")
    return (f'<section id="utilization"><h2>Utilization per dollar</h2>'
            f'{_slot("fig-utilization", figs)}{table}{missing}</section>')


def _steps(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    rows = []
    for run in plan.all_runs:
        for f, r in zip(plan.fabrics, run.results, strict=True):
            if r is None:
                continue
            parts = step_breakdown(r, run.workload)
            rows.append([run.workload.name, f.label, f"{f.num_gpus:,}"]
                        + [f"{p.time_s:.3f}" for p in parts]
                        + [f"{r.step.step_time_s:.3f}", _pct(r.step.gpu_utilization)])
    if not rows:
        return ""
    names = ["compute s", "pipeline bubble s", "DP gradients exposed s", "TP all-reduce s",
             "EP all-to-all s"]
    table = _table(["workload", "fabric", "GPUs", *names, "step s", "utilization"], rows,
                   left=2, name="step time breakdown")
    return (f'<section id="steps"><h2>Step time breakdown</h2><p class="note">Per training '
            f"step: compute, the pipeline bubble, and the communication the GPUs wait for, per "
            f"collective (the hidden part of the DP collective is not shown).</p>"
            f'{_slot("fig-step", figs)}{table}</section>')


def _sensitivity(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    low, high = PRICE_FACTORS
    lo, hi = f"{100 * (low - 1):+.0f} %", f"{100 * (high - 1):+.0f} %"
    rows = [[p.workload_name, p.label, f"{p.requested_gpus:,}", f"{p.base_usd:.3f}",
             f"{p.network_low_usd:.3f}", f"{p.network_high_usd:.3f}",
             f"{p.servers_low_usd:.3f}", f"{p.servers_high_usd:.3f}"]
            for p in price_scenarios(plan)]
    if not rows and not plan.oversubscription:
        return ""
    price = _table(["workload", "fabric", "GPUs", "USD/useful GPU-h", f"network {lo}",
                    f"network {hi}", f"servers {lo}", f"servers {hi}"], rows, left=2,
                   name="price sensitivity") if rows else ""
    over = ""
    if plan.oversubscription:
        names = plan.oversubscription[0].workload_names
        orows = []
        for p in plan.oversubscription:
            cells = [p.label, f"{p.requested_gpus:,}", f"{p.oversubscription:g}:1",
                     _usd(p.network_cost_per_gpu_usd) if not p.error else "-"]
            for u, c in zip(p.utilization, p.cost_per_useful_gpu_hour_usd, strict=True):
                ok = not p.error and u == u  # NaN: the workload did not fit
                cells += [_pct(u) if ok else "-", f"{c:.3f}" if ok else "-"]
            orows.append(cells + [p.error])
        headers = ["fabric", "GPUs", "oversubscription", "network USD/GPU"]
        for n in names:
            headers += [f"utilization: {n}", f"USD/useful GPU-h: {n}"]
        over = ("<h3>Oversubscription (families that take it)</h3><p class=\"note\">Each ratio "
                "is a rebuilt fabric: fewer uplinks per leaf cost less, while traffic that "
                "crosses leaves (the MoE all-to-all) waits longer.</p>"
                f'{_slot("fig-oversubscription", figs)}'
                + _table(headers + ["note"], orows, name="oversubscription sensitivity"))
    return (f'<section id="sensitivity"><h2>Sensitivity</h2><h3>Prices {lo} / {hi}</h3>'
            f'<p class="note">Cost per useful GPU-hour with network prices (switches, optics, '
            f"cables, NICs) or server prices moved; step times do not change.</p>{price}"
            f"{over}</section>")


def _measured(plan: CapexPlan, figs: Mapping[str, Any]) -> str:
    if not plan.measured:
        return ""
    rows = [[p.label, p.collective, format_size(p.size_bytes), f"{p.measured_time_s:.4g}",
             f"{p.predicted_time_s:.4g}", f"{p.predicted_low_s:.4g}-{p.predicted_high_s:.4g}",
             _pct(p.predicted_time_s / p.measured_time_s - 1) if p.measured_time_s > 0 else "-"]
            for p in plan.measured]
    table = _table(["fabric", "collective", "size", "measured s", "predicted s", "band s",
                    "error"], rows, name="measured vs predicted")
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
                    f"in {100 * low:.0f}-{100 * high:.0f} %?"], rows,
                   name="rail-only vs rail-optimized")
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
            f"37-75 % lower network power (Wang et al., arXiv:2307.12169 v5, abstract).</p>"
            f"{table}<p>What drives the difference:</p>{drivers}</section>")


def _single_hop_claim(plan: CapexPlan) -> str:
    """The single-hop claim at each scale: baselines and the single-hop fabric side by side,
    with the break-even port cost and power (studies.single_hop_claim)."""
    claim = plan.single_hop_claim
    if not claim:
        return ""
    colls = list(dict.fromkeys(c for r in claim for c, _ in r.single_hop_times_s))
    size = format_size(claim[0].size_bytes)
    rows: list[list[Any]] = []
    verdicts = []
    for r in claim:
        for b in r.baselines:
            times = dict(b.times_s)
            rows.append([f"{r.num_gpus:,}", b.family, f"{b.network_cost_per_gpu_usd:,.0f}",
                         f"{b.network_power_per_gpu_w:.1f}",
                         *(_ms(times.get(c)) for c in colls), ""])
        times = dict(r.single_hop_times_s)
        rows.append([f"{r.num_gpus:,}", "single-hop (hypothetical switch)",
                     f"{r.single_hop_network_cost_per_gpu_usd:,.0f}",
                     f"{r.single_hop_network_power_per_gpu_w:.1f}",
                     *(_ms(times.get(c)) for c in colls),
                     f"{r.breakeven_port_cost_usd:,.0f} USD / {r.breakeven_port_power_w:.1f} W"])
        cost = ("holds at today's per-port cost" if r.cost_claim_holds else
                f"needs ports below {r.breakeven_port_cost_usd:,.0f} USD")
        power = ("holds" if r.power_claim_holds else
                 f"needs ports below {r.breakeven_port_power_w:.1f} W" if r.power_claim_possible
                 else "cannot hold while each GPU keeps its NIC and optics")
        verdicts.append(f"<li>{r.num_gpus:,} GPUs: -{r.cost_cut:.0%} capex {esc(cost)} "
                        f"(today {r.port_cost_usd:,.0f} USD per port); -{r.power_cut:.0%} power "
                        f"{esc(power)} (today {r.port_power_w:.1f} W per port).</li>")
    table = _table(["GPUs", "fabric", "network USD per GPU", "network W per GPU",
                    *(f"{c} ms ({size})" for c in colls), "break-even port (cost / power)"],
                   rows, name="single-hop claim", text=[1])
    return (f'<section id="single-hop-claim"><h2>The single-hop claim</h2>'
            f'<p class="note">Claimed: up to {claim[0].cost_cut:.0%} lower network capex and '
            f"{claim[0].power_cut:.0%} lower network power from one hop between GPUs (Eridu, "
            f"2026, https://eridu.ai/news/a-vision-to-address-the-ai-network-wall). No radix, "
            f"price or power is published: the single-hop switch here is hypothetical, one port "
            f"per GPU at the baseline switch's per-port cost and power. The break-even is the "
            f"most a single-hop port may cost (draw) for the claimed cut against the cheapest "
            f"baseline; NICs, optics and cables stay as priced.</p>{table}"
            f"<ul>{''.join(verdicts)}</ul></section>")


def _ms(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 1e3:.2f}"


def _workload_table(w: Workload) -> str:
    fields = [[f.name, getattr(w, f.name)] for f in dataclasses.fields(w)
              if f.name != "economics"]
    econ = w.economics
    fields += [["economics", economics_text(econ)],
               ["economics.source", _economics_source(econ)]]
    return _table(["workload field", "value"], fields, left=2, name=f"workload {w.name}")


def _assumptions(plan: CapexPlan) -> str:
    wtables = "".join(f"<h4>{esc(run.workload.name)}</h4>{_workload_table(run.workload)}"
                      for run in plan.all_runs)
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
                    entries, left=3, text=(5,), name="catalog entries")
    rule_list = "".join(f"<li>{esc(r)}</li>" for r in rules)
    notes = "".join(f"<li>{esc(n)}</li>" for n in plan.notes)
    model = (
        "<ul><li>Step time = compute (6 x params x tokens / (GPUs x peak x MFU)) + pipeline "
        "bubble + exposed DP gradient collective + TP all-reduces + EP all-to-alls; GPU "
        "utilization = compute / step.</li>"
        "<li>One group of each kind is predicted on the fabric; the other groups are assumed "
        "not to slow it (exact for rail-aligned groups, optimistic where groups share "
        "uplinks). Non-blocking fabrics therefore time a group alike; oversubscription shows "
        "where a group's traffic crosses leaves.</li>"
        "<li>Cost per hour = capex / (amortization years x 8,760 h) + IT power x PUE x "
        "electricity price, with each workload's own economics.</li></ul>")
    return (f'<section id="assumptions"><h2>Assumptions and sources</h2>'
            f"<p>Catalog version <code>{esc(plan.catalog.version)}</code>.</p>{model}"
            f"<h3>Workloads</h3>{wtables}<h3>Bill-of-materials rules</h3><ul>{rule_list}</ul>"
            f"<h3>Catalog entries used</h3>{etable}"
            + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "") + "</section>")


def _slot(fig_id: str, figs: Mapping[str, Any]) -> str:
    return f'<div class="fig" id="{esc(fig_id)}"></div>' if fig_id in figs else ""


def page(plan: CapexPlan, figs: Mapping[str, dict[str, Any]], recs: Sequence[Recommendation],
         comparisons: Sequence[RailComparison]) -> str:
    """Assemble the HTML page (see :func:`reports.html.render_report`)."""
    names = ", ".join(run.workload.name for run in plan.all_runs)
    meta = [f"Workload{'s' if len(plan.all_runs) > 1 else ''}: {esc(names)}",
            f"catalog {esc(plan.catalog.version)}", f"model flavor {esc(plan.flavor)}"]
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
        _summary(plan, recs), failed_html, _capex(plan, figs), _bom_tables(plan),
        _power(plan, figs), _steps(plan, figs), _utilization(plan, figs),
        _sensitivity(plan, figs), _collectives(plan, figs), _measured(plan, figs),
        _rail_only(comparisons), _single_hop_claim(plan), _assumptions(plan),
    ])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{esc(plan.title)}</title><style>{_CSS}</style>"
        f"<script>{plotly_bundle()}</script></head>\n<body>"
        f"<h1>{esc(plan.title)}</h1><p class=\"meta\">{' · '.join(meta)}</p>{command}"
        f"{body}\n<script>var F={script_json(figs)};\n{calls}\n</script></body></html>\n"
    )
