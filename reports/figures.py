"""Plotly figures of the planning report, as plain ``{"data": [...], "layout": {...}}`` dicts.

Each function takes the report's results (:class:`reports.html.FabricResult` and friends) and
returns a figure checked by ``plotly.graph_objects`` and turned into plain data, so the HTML
writer can serialize it deterministically. Every string that came from a user (topology labels)
is HTML-escaped here: plotly draws trace names as SVG text and decodes entities, so ``&lt;`` shows
as ``<`` and never becomes markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from studies.capex import MeasuredPoint
from studies.evaluate import FabricResult

__all__ = [
    "CAPEX_PARTS",
    "capex_figure",
    "power_figure",
    "collective_time_figure",
    "collective_busbw_figure",
    "utilization_figure",
    "measured_figure",
]

#: Network categories of the BOM and how the capex and power figures name them.
CAPEX_PARTS = (("switch", "Switches"), ("transceiver", "Optics"), ("cable", "Cables"),
               ("nic", "NICs"))
_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13}
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _text(value: str) -> str:
    return html.escape(str(value), quote=True)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": {"text": _text(title)}, "font": _FONT, "plot_bgcolor": "white",
        "margin": {"l": 70, "r": 20, "t": 60, "b": 140}, "height": 500,
        "legend": {"orientation": "h", "y": -0.38},
    }
    base.update(extra)
    return base


def _plain(fig: go.Figure) -> dict[str, Any]:
    data = fig.to_plotly_json()
    layout = dict(data.get("layout", {}))
    # go.Figure adds plotly.py's default template (about 10 kB per figure); plotly.js draws
    # well without it.
    layout.pop("template", None)
    return {"data": data.get("data", []), "layout": layout}


def _bar_label(f: FabricResult) -> str:
    return f"{f.label} · {f.num_gpus:,} GPUs"


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
                                xaxis={"tickangle": -30}))
    return _plain(fig)


def capex_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Network capex per GPU, stacked by switches / optics / cables / NICs, per fabric and scale."""
    return _stacked(fabrics, "cost_by_category", "USD", "Network capex per GPU",
                    "USD per GPU")


def power_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Network power per GPU, stacked like :func:`capex_figure`."""
    return _stacked(fabrics, "power_by_category", "W", "Network power per GPU (IT load)",
                    "W per GPU")


def _curve_traces(fabrics: Sequence[FabricResult], value: str) -> go.Figure:
    fig = go.Figure()
    i = 0
    for f in fabrics:
        for curve in f.curves:
            ys = curve.time_s if value == "time" else [b / 1e9 for b in curve.busbw_bytes_per_s]
            name = _text(f"{f.label} · {f.num_gpus:,} GPUs · {curve.collective}")
            unit = "s" if value == "time" else "GB/s"
            fig.add_trace(go.Scatter(
                x=list(curve.sizes_bytes), y=list(ys), mode="lines+markers", name=name,
                line={"color": _COLORS[i % len(_COLORS)]},
                customdata=list(curve.algorithm),
                hovertemplate=f"{name}<br>%{{x:,}} bytes: %{{y:.4g}} {unit}"
                              f"<br>algorithm %{{customdata}}<extra></extra>",
            ))
            i += 1
    return fig


def collective_time_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Predicted collective time vs message size (log-log), one line per fabric and collective."""
    fig = _curve_traces(fabrics, "time")
    fig.update_layout(**_layout(
        "Predicted collective time vs size",
        xaxis={"type": "log", "title": {"text": "size (bytes, nccl-tests meaning)"}},
        yaxis={"type": "log", "title": {"text": "time (s)"}}))
    return _plain(fig)


def collective_busbw_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Predicted bus bandwidth (nccl-tests definition) vs message size."""
    fig = _curve_traces(fabrics, "busbw")
    fig.update_layout(**_layout(
        "Predicted bus bandwidth vs size",
        xaxis={"type": "log", "title": {"text": "size (bytes)"}},
        yaxis={"title": {"text": "busbw (GB/s, 1e9 bytes/s)"}}))
    return _plain(fig)


def utilization_figure(fabrics: Sequence[FabricResult]) -> dict[str, Any]:
    """Useful GPU-hours per 1,000 USD (left) and GPU utilization (right) vs GPU count."""
    fig = go.Figure()
    families: dict[str, list[FabricResult]] = {}
    for f in fabrics:
        if f.workload is not None:
            families.setdefault(f.label, []).append(f)
    for i, (label, group) in enumerate(families.items()):
        group = sorted(group, key=lambda f: f.num_gpus)
        name = _text(label)
        color = _COLORS[i % len(_COLORS)]
        fig.add_trace(go.Scatter(
            x=[f.num_gpus for f in group],
            y=[f.workload.cost.useful_gpu_hours_per_kusd for f in group],  # type: ignore[union-attr]
            mode="lines+markers", name=f"{name}: useful GPU-h per kUSD", line={"color": color},
            hovertemplate=f"{name}<br>%{{x:,}} GPUs: %{{y:.3f}} useful GPU-hours per 1,000 USD"
                          f"<extra></extra>",
        ))
        fig.add_trace(go.Scatter(
            x=[f.num_gpus for f in group],
            y=[100 * f.workload.step.gpu_utilization for f in group],  # type: ignore[union-attr]
            mode="lines+markers", name=f"{name}: GPU utilization %", yaxis="y2",
            line={"color": color, "dash": "dot"},
            hovertemplate=f"{name}<br>%{{x:,}} GPUs: %{{y:.1f}} % utilization<extra></extra>",
        ))
    fig.update_layout(**_layout(
        "Utilization per dollar vs scale",
        xaxis={"type": "log", "title": {"text": "GPUs"}},
        yaxis={"title": {"text": "useful GPU-hours per 1,000 USD"}},
        yaxis2={"title": {"text": "GPU utilization (%)"}, "overlaying": "y", "side": "right",
                "range": [0, 100]}))
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
        xaxis={"type": "log", "title": {"text": "size (bytes)"}},
        yaxis={"type": "log", "title": {"text": "time (s)"}}))
    return _plain(fig)
