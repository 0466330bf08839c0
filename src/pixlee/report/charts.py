"""The report's charts, as Plotly figures (plotly.js is embedded once by `pixlee.report.html`).

Every label that comes from the data (album and product titles, user names, sources) goes
through `label()`: Plotly renders a subset of HTML in text, so `<`, `>` and `&` are escaped and
a product called `<a href=…>` shows as written instead of becoming a link.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

PALETTE = (
    "#3366cc",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#b07aa1",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#bab0ac",
)
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_MAX_LABEL = 38
WEEK_MS = 7 * 24 * 3600 * 1000


def label(value: Any, limit: int = _MAX_LABEL) -> str:
    """A category label safe for Plotly's text rendering, shortened to fit an axis."""
    text = "(none)" if value is None or value == "" else str(value).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False)


def plain_utc(moment: datetime) -> datetime:
    """A UTC instant without tzinfo: what plotly.js reads as the same instant everywhere."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _layout(figure: go.Figure, title: str, height: int, **extra: Any) -> go.Figure:
    figure.update_layout(
        template=go.layout.Template(),  # no default template: ~10 kB less per chart
        title={"text": html.escape(title), "x": 0, "xanchor": "left", "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 10, "t": 44, "b": 10},
        font={"family": _FONT, "size": 12, "color": "#222"},
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(PALETTE),
        legend={"orientation": "h", "y": -0.15},
        hoverlabel={"font": {"family": _FONT}},
        **extra,
    )
    figure.update_xaxes(automargin=True, gridcolor="#eee", zerolinecolor="#ccc")
    figure.update_yaxes(automargin=True, gridcolor="#eee", zerolinecolor="#ccc")
    return figure


def stacked_weeks(
    title: str, weeks: Sequence[datetime], series: Mapping[str, Sequence[int]], unit: str
) -> go.Figure:
    """One bar per week, stacked by series (sources, content types)."""
    figure = go.Figure(
        [
            go.Bar(
                name=label(name),
                x=[plain_utc(week) for week in weeks],
                y=list(values),
                # a bar spans its week (Monday to Sunday), so the window's first week is whole
                xperiod=WEEK_MS,
                xperiodalignment="middle",
                hovertemplate=f"%{{x|%Y-%m-%d}}: %{{y}} {unit}<extra>{label(name)}</extra>",
            )
            for name, values in series.items()
        ]
    )
    figure.update_xaxes(type="date", tickformat="%b %d<br>%Y")
    return _layout(figure, title, 360, barmode="stack", bargap=0.15)


def distinct_labels(values: Sequence[Any], ids: Sequence[Any] | None = None) -> list[str]:
    """Labels for a category axis, where equal labels would merge into one bar: two products
    both called "Everyday Tote Bag" get their ids (SKU, album id) appended."""
    names = [label(value) for value in values]
    repeated = Counter(names)
    return [
        f"{name} ({label(ids[i], 20) if ids is not None else i + 1})"
        if repeated[name] > 1
        else name
        for i, name in enumerate(names)
    ]


def horizontal_bars(
    title: str,
    labels: Sequence[Any],
    values: Sequence[float],
    unit: str,
    text: Sequence[str] | None = None,
    ids: Sequence[Any] | None = None,
) -> go.Figure:
    """A ranked list as bars, largest on top; `ids` tell apart rows with equal labels."""
    names = distinct_labels(labels, ids)
    figure = go.Figure(
        go.Bar(
            x=list(values)[::-1],
            y=names[::-1],
            orientation="h",
            marker_color=PALETTE[0],
            text=list(text)[::-1] if text is not None else None,
            textposition="auto",
            hovertemplate=f"%{{y}}: %{{x}} {unit}<extra></extra>",
        )
    )
    figure.update_yaxes(type="category")
    return _layout(figure, title, max(220, 60 + 26 * len(names)), showlegend=False)


def stacked_bars(
    title: str,
    categories: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    unit: str,
    horizontal: bool = True,
) -> go.Figure:
    """Categories (e.g. sources) as bars split into parts (with rights / without)."""
    names = [label(value) for value in categories]
    bars = []
    for name, values in series.items():
        axis = {"x": list(values), "y": names} if horizontal else {"x": names, "y": list(values)}
        bars.append(
            go.Bar(
                name=label(name),
                orientation="h" if horizontal else "v",
                hovertemplate=f"%{{{'y' if horizontal else 'x'}}}: "
                f"%{{{'x' if horizontal else 'y'}}} {unit}<extra>{label(name)}</extra>",
                **axis,
            )
        )
    figure = go.Figure(bars)
    axis_update = figure.update_yaxes if horizontal else figure.update_xaxes
    axis_update(type="category", autorange="reversed" if horizontal else True)
    height = max(240, 90 + 30 * len(names)) if horizontal else 340
    return _layout(figure, title, height, barmode="stack")


def grouped_bars(
    title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]], unit: str
) -> go.Figure:
    """Several series side by side per category (a distribution per source)."""
    figure = go.Figure(
        [
            go.Bar(
                name=label(name),
                x=list(categories),
                y=list(values),
                hovertemplate=f"%{{x}}: %{{y:.1f}} {unit}<extra>{label(name)}</extra>",
            )
            for name, values in series.items()
        ]
    )
    figure.update_xaxes(type="category")
    return _layout(figure, title, 340, barmode="group")


def donut(title: str, labels: Sequence[str], values: Sequence[int]) -> go.Figure:
    figure = go.Figure(
        go.Pie(
            labels=[label(value) for value in labels],
            values=list(values),
            hole=0.55,
            sort=False,
            textinfo="value+percent",
            marker={"colors": [PALETTE[2], PALETTE[3], PALETTE[1]][: len(values)]},
        )
    )
    return _layout(figure, title, 300)


def timeline(
    title: str, rows: Sequence[Any], series: Mapping[str, Sequence[datetime | None]]
) -> go.Figure:
    """Points in time per row (album): e.g. its last full and last incremental scan."""
    names = [label(value) for value in rows]
    figure = go.Figure(
        [
            go.Scatter(
                name=label(name),
                x=[None if t is None else plain_utc(t) for t in times],
                y=names,
                mode="markers",
                marker={"size": 10, "symbol": "diamond" if index else "circle"},
                hovertemplate=f"%{{y}}: %{{x|%Y-%m-%d %H:%M}}<extra>{label(name)}</extra>",
            )
            for index, (name, times) in enumerate(series.items())
        ]
    )
    figure.update_xaxes(type="date")
    figure.update_yaxes(type="category", autorange="reversed")
    return _layout(figure, title, max(240, 90 + 24 * len(names)))


def runs_chart(title: str, runs: Sequence[str], series: Mapping[str, Sequence[float]]) -> go.Figure:
    """Requests per run with its retries and 429 answers beside them."""
    return grouped_bars(title, list(runs), series, "")
