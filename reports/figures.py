"""Plotly figures of the planning report, as plain ``{"data": [...], "layout": {...}}`` dicts.

Each function takes results from :mod:`studies` and returns a figure checked by
``plotly.graph_objects`` and turned into plain data, so the HTML writer can serialize it
deterministically. Every string that came from a user (topology labels, workload names) is
HTML-escaped here: plotly draws trace names as SVG text and decodes entities, so ``&lt;`` shows
as ``<`` and never becomes markup.

Byte axes are labelled in binary units (``1 KiB``, ``1 MiB``, ``1 GiB``: :func:`byte_ticks`),
one small chart per collective and scale instead of many curves on one chart, and every margin
leaves room for its axis labels (the browser test measures them).

>>> byte_ticks(1024, 4 << 30)
([1024, 1048576, 1073741824], ['1 KiB', '1 MiB', '1 GiB'])
>>> byte_ticks(1024, 1 << 16)[1]
['1 KiB', '4 KiB', '16 KiB', '64 KiB']
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from studies.capex import CostPoint, MeasuredPoint, WorkloadRun, step_breakdown
from studies.evaluate import FabricResult
from studies.sensitivity import OversubscriptionPoint

__all__ = [
    "CAPEX_PARTS",
    "byte_ticks",
    "capex_figure",
    "power_figure",
    "cost_scale_figure",
    "collective_time_figure",
    "collective_busbw_figure",
    "utilization_figure",
    "step_figure",
    "oversubscription_figure",
    "measured_figure",
]

#: Network categories of the BOM and how the capex and power figures name them.
CAPEX_PARTS = (("switch", "Switches"), ("transceiver", "Optics"), ("cable", "Cables"),
               ("nic", "NICs"))
_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13}
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_STEP_COLORS = {"compute": "#2ca02c", "pipeline bubble": "#bcbd22",
                "DP gradients (exposed)": "#1f77b4", "TP all-reduce": "#ff7f0e",
                "EP all-to-all": "#d62728"}


def _text(value: str) -> str:
    return html.escape(str(value), quote=True)


def _bytes_label(size_bytes: int) -> str:
    e = int(math.log2(size_bytes))
    unit = min(e // 10, len(_UNITS) - 1)
    return f"{size_bytes // 2 ** (10 * unit)} {_UNITS[unit]}"


def byte_ticks(low_bytes: float, high_bytes: float) -> tuple[list[int], list[str]]:
    """Tick values and binary-unit labels for a log byte axis from ``low`` to ``high``.

    Powers of 1024 when at least three fit, else powers of 32, 4 or 2 (at most about eight).
    """
    low = max(1, math.floor(math.log2(max(low_bytes, 1))))
    high = max(low, math.ceil(math.log2(max(high_bytes, 1))))
    exps: list[int] = []
    for step in (10, 5, 2, 1):
        exps = [e for e in range(low, high + 1) if e % step == 0]
        if len(exps) >= 3:
            break
    values = [2**e for e in exps]
    return values, [_bytes_label(v) for v in values]


def _byte_axis(sizes: Sequence[int], title: str = "message size") -> dict[str, Any]:
    values, labels = byte_ticks(min(sizes, default=1), max(sizes, default=1))
    return {"type": "log", "tickmode": "array", "tickvals": values, "ticktext": labels,
            "title": {"text": title}, "automargin": True}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": {"text": _text(title), "x": 0, "xanchor": "left"}, "font": _FONT,
        "plot_bgcolor": "white", "margin": {"l": 80, "r": 40, "t": 70, "b": 150},
        "height": 500,
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom",
                   "x": 0},
    }
    base.update(extra)
    return base


def _grid(fig: go.Figure) -> None:
    fig.update_xaxes(showgrid=True, gridcolor="#eee", linecolor="#999", automargin=True)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", linecolor="#999", automargin=True)


def _plain(fig: go.Figure) -> dict[str, Any]:
    data = fig.to_plotly_json()
    layout = dict(data.get("layout", {}))
    # go.Figure adds plotly.py's default template (about 10 kB per figure); plotly.js draws
    # well without it.
    layout.pop("template", None)
    return {"data": data.get("data", []), "layout": layout}


def _bar_label(f: FabricResult) -> str:
    return f"{f.label} · {f.num_gpus:,} GPUs"


def _category_axis(labels: Sequence[str], limit: int = 36) -> dict[str, Any]:
    """A category axis whose tick text is cut to ``limit`` characters (the hover text keeps the
    whole label), so a long fabric name cannot push the plot out of its box."""
    text = [t if len(t) <= limit else t[: limit - 1] + "…" for t in labels]
    return {"tickmode": "array", "tickvals": list(labels), "ticktext": text, "tickangle": -30,
            "automargin": True}


def _colors(labels: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for label in labels:
        out.setdefault(label, _COLORS[len(out) % len(_COLORS)])
    return out


def _stacked(fabrics: Sequence[FabricResult], attr: str, per_gpu_unit: str, title: str,
             ytitle: str) -> dict[str, Any]:
    shown = [f for f in fabrics if f.bom is not None]
    x = [_text(_bar_label(f)) for f in shown]
    fig = go.Figure()
    for i, (cat, name) in enumerate(CAPEX_PARTS):
        values = [getattr(f.bom, attr)[cat] / f.num_gpus for f in shown]  # type: ignore[union-attr]
        totals = [getattr(f.bom, attr)[cat] for f in shown]  # type: ignore[union-attr]
        fig.add_trace(go.Bar(
            x=x, y=values, name=name, marker={"color": _COLORS[i]},
            customdata=totals,
            hovertemplate=f"%{{x}}<br>{name}: %{{y:,.0f}} {per_gpu_unit} per GPU"
                          f"<br>total %{{customdata:,.0f}} {per_gpu_unit}<extra></extra>",
        ))
    fig.update_layout(**_layout(title, barmode="stack", yaxis={"title": {"text": ytitle}},
                                xaxis=_category_axis(x)))
    _grid(fig)
    return _plain(fig)


def capex_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Network capex per GPU, stacked by switches / optics / cables / NICs, per fabric and scale."""
    return _stacked(fabrics, "cost_by_category", "USD", "Network capex per GPU",
                    "USD per GPU")


def power_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Network power per GPU, stacked like :func:`capex_figure`."""
    return _stacked(fabrics, "power_by_category", "W", "Network power per GPU (IT load)",
                    "W per GPU")


def _gpu_axis(counts: Sequence[int], title: str = "GPUs") -> dict[str, Any]:
    ticks = sorted(set(counts))
    return {"type": "log", "tickmode": "array", "tickvals": ticks,
            "ticktext": [f"{n:,}" for n in ticks], "title": {"text": title}, "automargin": True}


def cost_scale_figure(points: Sequence[CostPoint]) -> dict[str, Any]:
    """Capex per GPU vs GPU count, one line per family: network (left) and cluster (right)."""
    built = [p for p in points if not p.error]
    colors = _colors([p.label for p in built])
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "network capex per GPU (USD)", "cluster capex per GPU (USD)"))
    for label, color in colors.items():
        group = sorted((p for p in built if p.label == label), key=lambda p: p.requested_gpus)
        name = _text(label)
        x = [p.requested_gpus for p in group]
        for col, values in ((1, [p.network_cost_per_gpu_usd for p in group]),
                            (2, [p.cost_per_gpu_usd for p in group])):
            fig.add_trace(go.Scatter(
                x=x, y=values, mode="lines+markers", name=name, legendgroup=name,
                showlegend=col == 1, line={"color": color},
                customdata=[p.num_gpus for p in group],
                hovertemplate=f"{name}<br>%{{x:,}} GPUs asked (%{{customdata:,}} built): "
                              f"%{{y:,.0f}} USD per GPU<extra></extra>"), row=1, col=col)
    axis = _gpu_axis([p.requested_gpus for p in built])
    fig.update_xaxes(**axis)
    fig.update_yaxes(title={"text": "USD per GPU"}, rangemode="tozero")
    fig.update_layout(**_layout("Capex per GPU vs scale", height=460,
                                margin={"l": 80, "r": 40, "t": 90, "b": 120}))
    _grid(fig)
    return _plain(fig)


def _panels(fabrics: Sequence[FabricResult]) -> list[tuple[str, int]]:
    """(collective, requested GPUs) of every chart: collectives in order, then by scale."""
    order = list(dict.fromkeys(c.collective for f in fabrics for c in f.curves if c.predictions))
    panels = {(c.collective, f.requested_gpus) for f in fabrics for c in f.curves
              if c.predictions}
    return sorted(panels, key=lambda p: (order.index(p[0]), p[1]))


def _small_multiples(fabrics: Sequence[FabricResult], value: str) -> dict[str, Any]:
    panels = _panels(fabrics)
    # one row per collective when the scales fit in three columns, else wrapped
    cols = max(1, min(3, len({n for _, n in panels})))
    rows = max(1, math.ceil(len(panels) / cols))
    titles = [_text(f"{c} · {n:,} GPUs") for c, n in panels]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles or None,
                        horizontal_spacing=0.09, vertical_spacing=min(0.3, 0.5 / rows))
    colors = _colors([f.label for f in fabrics if f.curves])
    seen: set[str] = set()
    sizes: list[int] = []
    unit = "s" if value == "time" else "GB/s"
    for i, (collective, n) in enumerate(panels):
        row, col = i // cols + 1, i % cols + 1
        for f in fabrics:
            if f.requested_gpus != n:
                continue
            for curve in f.curves:
                if curve.collective != collective or not curve.predictions:
                    continue
                ys = (list(curve.time_s) if value == "time"
                      else [b / 1e9 for b in curve.busbw_bytes_per_s])
                name = _text(f.label)
                sizes.extend(curve.sizes_bytes)
                fig.add_trace(go.Scatter(
                    x=list(curve.sizes_bytes), y=ys, mode="lines+markers", name=name,
                    legendgroup=name, showlegend=name not in seen,
                    line={"color": colors[f.label]}, customdata=list(curve.algorithm),
                    hovertemplate=f"{name} · {f.num_gpus:,} GPUs · {_text(collective)}"
                                  f"<br>%{{x:,}} bytes: %{{y:.4g}} {unit}"
                                  f"<br>algorithm %{{customdata}}<extra></extra>",
                ), row=row, col=col)
                seen.add(name)
    fig.update_xaxes(**_byte_axis(sizes, ""))
    for i in range(len(panels), rows * cols):  # cells left empty by wrapping
        fig.update_xaxes(visible=False, row=i // cols + 1, col=i % cols + 1)
        fig.update_yaxes(visible=False, row=i // cols + 1, col=i % cols + 1)
    for col in range(1, cols + 1):
        fig.update_xaxes(title={"text": "size (bytes, nccl-tests meaning)"}, row=rows, col=col)
    if value == "time":
        fig.update_yaxes(type="log", exponentformat="power")
        ytitle, title = "time (s)", "Predicted collective time vs size"
    else:
        fig.update_yaxes(rangemode="tozero")
        ytitle, title = "busbw (GB/s)", "Predicted bus bandwidth (nccl-tests) vs size"
    for row in range(1, rows + 1):
        fig.update_yaxes(title={"text": ytitle}, row=row, col=1)
    fig.update_layout(**_layout(title, height=150 + 300 * rows,
                                margin={"l": 80, "r": 40, "t": 100, "b": 130}))
    _grid(fig)
    return _plain(fig)


def collective_time_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Predicted collective time vs message size (log-log): one small chart per collective and
    scale, one line per fabric."""
    return _small_multiples(fabrics, "time")


def collective_busbw_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Predicted bus bandwidth (nccl-tests) vs size, laid out as :func:`collective_time_figure`."""
    return _small_multiples(fabrics, "busbw")


def utilization_figure(fabrics: Sequence[FabricResult],
                       runs: Sequence[WorkloadRun]) -> dict[str, Any]:
    """Useful GPU-hours per 1,000 USD (left axis) and GPU utilization (right axis, dotted) vs
    GPU count, one chart per workload, one colour per fabric."""
    panels = [r for r in runs if any(x is not None for x in r.results)]
    cols = max(1, len(panels))
    fig = make_subplots(rows=1, cols=cols, specs=[[{"secondary_y": True}] * cols],
                        subplot_titles=[_text(r.workload.name) for r in panels] or None,
                        horizontal_spacing=0.2 if cols > 1 else 0.05)
    colors = _colors([f.label for f in fabrics])
    counts: list[int] = []
    for col, run in enumerate(panels, start=1):
        groups: dict[str, list[tuple[FabricResult, Any]]] = {}
        for f, r in zip(fabrics, run.results, strict=True):
            if r is not None:
                groups.setdefault(f.label, []).append((f, r))
        for label, group in groups.items():
            group.sort(key=lambda fr: fr[0].requested_gpus)
            name = _text(label)
            x = [f.requested_gpus for f, _ in group]
            counts.extend(x)
            fig.add_trace(go.Scatter(
                x=x, y=[r.cost.useful_gpu_hours_per_kusd for _, r in group],
                mode="lines+markers", name=f"{name}: useful GPU-h per kUSD",
                legendgroup=f"{name}-u", showlegend=col == 1, line={"color": colors[label]},
                hovertemplate=f"{name}<br>%{{x:,}} GPUs: %{{y:.3f}} useful GPU-hours per "
                              f"1,000 USD<extra></extra>"), row=1, col=col, secondary_y=False)
            fig.add_trace(go.Scatter(
                x=x, y=[100 * r.step.gpu_utilization for _, r in group],
                mode="lines+markers", name=f"{name}: GPU utilization %",
                legendgroup=f"{name}-p", showlegend=col == 1,
                line={"color": colors[label], "dash": "dot"}, marker={"symbol": "diamond"},
                hovertemplate=f"{name}<br>%{{x:,}} GPUs: %{{y:.1f}} % utilization"
                              f"<extra></extra>"), row=1, col=col, secondary_y=True)
    fig.update_xaxes(**_gpu_axis(counts or [1]))
    fig.update_yaxes(title={"text": "useful GPU-hours per 1,000 USD"}, rangemode="tozero",
                     secondary_y=False)
    fig.update_yaxes(title={"text": "GPU utilization (%)"}, range=[0, 100], dtick=20,
                     tickmode="linear", secondary_y=True, showgrid=False)
    fig.update_layout(**_layout("Utilization per dollar vs scale", height=520,
                                margin={"l": 80, "r": 90, "t": 100, "b": 150}))
    _grid(fig)
    return _plain(fig)


def step_figure(fabrics: Sequence[FabricResult], runs: Sequence[WorkloadRun]) -> dict[str, Any]:
    """Step time per fabric and scale, stacked: compute, pipeline bubble and exposed
    communication per collective; one chart per workload."""
    panels = [r for r in runs if any(x is not None for x in r.results)]
    cols = max(1, len(panels))
    fig = make_subplots(rows=1, cols=cols, horizontal_spacing=0.1,
                        subplot_titles=[_text(r.workload.name) for r in panels] or None)
    for col, run in enumerate(panels, start=1):
        pairs = [(f, r) for f, r in zip(fabrics, run.results, strict=True) if r is not None]
        x = [_text(_bar_label(f)) for f, _ in pairs]
        parts = [step_breakdown(r, run.workload) for _, r in pairs]
        for j, name in enumerate(_STEP_COLORS):
            fig.add_trace(go.Bar(
                x=x, y=[p[j].time_s for p in parts], name=name, legendgroup=name,
                showlegend=col == 1, marker={"color": _STEP_COLORS[name]},
                hovertemplate=f"%{{x}}<br>{name}: %{{y:.3f}} s<extra></extra>"),
                row=1, col=col)
        fig.update_xaxes(**_category_axis(x), row=1, col=col)
    fig.update_yaxes(title={"text": "seconds per step"}, row=1, col=1)
    fig.update_layout(**_layout("Step time: compute and exposed communication", barmode="stack",
                                height=540, margin={"l": 80, "r": 40, "t": 100, "b": 150}))
    _grid(fig)
    return _plain(fig)


def _ratio(value: float) -> str:
    return f"{value:g}:1"


def oversubscription_figure(points: Sequence[OversubscriptionPoint]) -> dict[str, Any]:
    """Network capex per GPU (left) and cost per useful GPU-hour per workload (right) vs the
    leaf oversubscription ratio."""
    built = [p for p in points if not p.error]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14, subplot_titles=(
        "network capex per GPU (USD)", "USD per useful GPU-hour"))
    labels = list(dict.fromkeys(p.label for p in built))
    names = list(dict.fromkeys(n for p in built for n in p.workload_names))
    colors = _colors(labels + names)
    for label in labels:
        group = sorted((p for p in built if p.label == label), key=lambda p: p.oversubscription)
        x = [_ratio(p.oversubscription) for p in group]
        fig.add_trace(go.Scatter(
            x=x, y=[p.network_cost_per_gpu_usd for p in group], mode="lines+markers",
            name=_text(f"{label}: network USD/GPU"), line={"color": colors[label]},
            hovertemplate=f"{_text(label)} %{{x}}: %{{y:,.0f}} USD per GPU<extra></extra>"),
            row=1, col=1)
        for i, wname in enumerate(names):
            fig.add_trace(go.Scatter(
                x=x, y=[p.cost_per_useful_gpu_hour_usd[i] for p in group], mode="lines+markers",
                name=_text(f"{label} · {wname}"), line={"color": colors[wname]},
                hovertemplate=f"{_text(label)} · {_text(wname)} %{{x}}: %{{y:.3f}} USD per "
                              f"useful GPU-hour<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title={"text": "leaf down:up ports"}, type="category")
    fig.update_yaxes(rangemode="tozero")
    gpus = built[0].requested_gpus if built else 0
    fig.update_layout(**_layout(f"Oversubscription at {gpus:,} GPUs", height=480,
                                margin={"l": 80, "r": 40, "t": 100, "b": 150}))
    _grid(fig)
    return _plain(fig)


def measured_figure(points: Sequence[MeasuredPoint]) -> dict[str, Any]:
    """Measured vs predicted time per size, with the calibrated error band where given."""
    fig = go.Figure()
    series: dict[tuple[str, str], list[MeasuredPoint]] = {}
    for p in points:
        series.setdefault((p.label, p.collective), []).append(p)
    for i, ((label, collective), group) in enumerate(sorted(series.items())):
        group = sorted(group, key=lambda p: p.size_bytes)
        color = _COLORS[i % len(_COLORS)]
        name = _text(f"{label} · {collective}")
        x = [p.size_bytes for p in group]
        fig.add_trace(go.Scatter(
            x=x, y=[p.predicted_time_s for p in group], mode="lines", name=f"{name}: predicted",
            line={"color": color},
            error_y={"type": "data", "symmetric": False,
                     "array": [max(0.0, p.predicted_high_s - p.predicted_time_s) for p in group],
                     "arrayminus": [max(0.0, p.predicted_time_s - p.predicted_low_s)
                                    for p in group]},
        ))
        fig.add_trace(go.Scatter(
            x=x, y=[p.measured_time_s for p in group], mode="markers", name=f"{name}: measured",
            marker={"color": color, "symbol": "x", "size": 9},
        ))
    fig.update_layout(**_layout(
        "Measured vs predicted",
        xaxis=_byte_axis([p.size_bytes for p in points], "size (bytes)"),
        yaxis={"type": "log", "title": {"text": "time (s)"}, "exponentformat": "power"}))
    _grid(fig)
    return _plain(fig)
