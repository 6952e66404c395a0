"""Plotly figures as plain dicts (``{"data": [...], "layout": {...}}``), drawn by plotly.js.

Figures are built from the same page data the API returns, never from extra queries; building
dicts (not ``plotly.graph_objects``) keeps a page with 200 models fast.
"""

from __future__ import annotations

from typing import Any

from medselect.dashboard.schemas import (
    Curve,
    Distribution,
    Leaderboard,
    LeaderboardEntry,
    ModelPage,
    Significance,
)

Figure = dict[str, Any]

GOOD, BAD, NEUTRAL, ACCENT, UNRESOLVED = "#1a7f37", "#cf222e", "#d0d7de", "#0969da", "#bf8700"
ROW_PX = 22
TILT = 0.71
"""sin 45 degrees: how much of a label tilted by 45 degrees goes down."""
CELL_PX = 40
MIN_HEATMAP_PX = 600
ANNOTATED_MODELS = 12
"""Up to this many models the heatmap writes each p-value in its cell."""
CHAR_PX = 7
"""Width of a tick label's character in plotly.js's default 12 px font, rounded up: margins
are sized from the labels here, not by plotly.js's ``automargin``, which measures every label
and then draws the whole chart a second time (the most of a 200-model chart's time)."""


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "margin": {"l": 60, "r": 20,
            "t": 40, "b": 40}, "hovermode": "closest", **extra}


def _unit(unit: str) -> str:
    return "" if unit in ("none", "") else f" [{unit}]"


def _label_px(labels: list[str]) -> int:
    """Room for the longest of ``labels`` as tick labels."""
    return CHAR_PX * max((len(label) for label in labels), default=0) + 12


def _models_height(n: int) -> int:
    return max(240, 70 + ROW_PX * n)


def _standing_colors(rows: list[LeaderboardEntry]) -> list[str]:
    """Green for the best group, amber for a model the data could not separate from the top
    one (never green: that is not a tie), blue for the others."""
    return [GOOD if r.in_best_group else UNRESOLVED if r.standing == "unresolved" else ACCENT
            for r in rows]


def ci_chart(board: Leaderboard) -> Figure:
    """Each model's aggregate with its bootstrap interval; the best group highlighted."""
    rows = [r for r in board.rows if r.aggregate is not None]
    models = [r.model for r in rows]
    lower = [r.aggregate - r.ci_low if r.ci_low is not None else 0 for r in rows]
    upper = [r.ci_high - r.aggregate if r.ci_high is not None else 0 for r in rows]
    trace = {
        "type": "scatter", "mode": "markers", "x": [r.aggregate for r in rows], "y": models,
        "error_x": {"type": "data", "symmetric": False, "array": upper, "arrayminus": lower,
                    "color": "#57606a"},
        "marker": {"color": _standing_colors(rows), "size": 9},
        "hovertemplate": "%{y}: %{x:.4g}<extra></extra>",
    }
    better = "higher" if board.direction == "higher" else "lower"
    level = round(100 * board.confidence)
    title = (f"{board.value_name} ({board.label}) with {level}% CI over {board.n_patients} "
             "patients · green: best group" + (" · amber: unresolved" if board.unresolved else ""))
    return {"data": [trace], "layout": _layout(
        title, height=_models_height(len(rows)),
        margin={"l": _label_px(models), "r": 20, "t": 40, "b": 40},
        yaxis={"autorange": "reversed"},
        xaxis={"title": {"text": f"{board.metric}{_unit(board.unit)}, {better} is better"},
               "zeroline": False})}


def stability_chart(board: Leaderboard) -> Figure:
    """Median rank over bootstrap resamples with its 95% range, in leaderboard order."""
    rows = board.rows
    trace = {
        "type": "scatter", "mode": "markers", "y": [r.model for r in rows],
        "x": [r.median_rank for r in rows],
        "error_x": {"type": "data", "symmetric": False,
                    "array": [r.rank_high - r.median_rank for r in rows],
                    "arrayminus": [r.median_rank - r.rank_low for r in rows],
                    "color": "#57606a"},
        "customdata": [round(100 * r.p_best) for r in rows],
        "hovertemplate": "%{y}: median rank %{x}, best in %{customdata}% of resamples"
                         "<extra></extra>",
        "marker": {"color": _standing_colors(rows), "size": 9},
    }
    return {"data": [trace], "layout": _layout(
        "Rank stability over bootstrap resamples", height=_models_height(len(rows)),
        margin={"l": _label_px([r.model for r in rows]), "r": 20, "t": 40, "b": 40},
        yaxis={"autorange": "reversed"},
        xaxis={"title": {"text": "rank (1 = best)"}, "range": [0.5, len(rows) + 0.5],
               "dtick": max(1, len(rows) // 10), "zeroline": False})}


def significance_chart(sig: Significance) -> Figure:
    """Row vs column: green where the row model is significantly better, red worse; the
    Holm-adjusted p-value written in each cell when the matrix is small enough to read."""
    z = [[1 if b else (-1 if sig.better[j][i] else 0) for j, b in enumerate(row)]
         for i, row in enumerate(sig.better)]
    text = [["" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}") for p in row]
            for row in sig.adjusted]
    trace = {
        "type": "heatmap", "z": z, "x": sig.models, "y": sig.models, "text": text,
        "zmin": -1, "zmax": 1, "showscale": False,
        "colorscale": [[0, BAD], [0.5, NEUTRAL], [1, GOOD]],
        "hovertemplate": "%{y} vs %{x}: Holm-adjusted p = %{text}<extra></extra>",
    }
    small = len(sig.models) <= ANNOTATED_MODELS
    if small:  # gaps draw each cell apart: 40,000 of them for 200 models, a second's work
        trace |= {"texttemplate": "%{text}", "textfont": {"size": 11}, "xgap": 1, "ygap": 1}
    labels = _label_px(sig.models)
    tilted = round(labels * TILT) + 10  # the x labels' height, tilted by 45 degrees
    cells = (CELL_PX if small else ROW_PX) * len(sig.models)
    test = sig.test.replace("_", " ")
    return {"data": [trace], "layout": _layout(
        f"Significance: paired {test} tests, Holm-corrected (alpha {sig.alpha:g})",
        height=cells + tilted + 80, width=max(MIN_HEATMAP_PX, cells + labels + 50),
        margin={"l": labels + 30, "r": 20, "t": 40, "b": tilted + 40},
        yaxis={"autorange": "reversed", "title": {"text": "model"}},
        xaxis={"tickangle": -45, "title": {"text": "compared with"}})}


def curves_chart(curves: list[Curve]) -> Figure:
    """Training curves per epoch: losses on the left axis, other metrics on the right."""
    data = []
    for curve in curves:
        loss = "loss" in curve.name
        data.append({"type": "scatter", "mode": "lines+markers", "name": curve.name,
                     "x": curve.epochs, "y": curve.values, "yaxis": "y" if loss else "y2",
                     "line": {"dash": "solid" if loss else "dot"}})
    n_epochs = max((len(c.epochs) for c in curves), default=1)
    return {"data": data, "layout": _layout(
        "Training curves (solid: losses, left axis; dotted: validation metrics, right axis)",
        height=340, xaxis={"title": {"text": "epoch"}, "dtick": max(1, n_epochs // 10)},
        yaxis={"title": {"text": "loss"}},
        margin={"l": 60, "r": 60, "t": 40, "b": 40},
        yaxis2={"title": {"text": "metric"}, "overlaying": "y", "side": "right",
                "tickmode": "auto", "showgrid": False},
        legend={"orientation": "h", "y": -0.3})}


def box_chart(metric: str, unit: str, boxes: list[Distribution]) -> Figure:
    """Precomputed box plots of one metric, all cases and per site."""
    boxes = [b for b in boxes if b.metric == metric and b.n]
    trace = {
        "type": "box", "x": [f"{b.site or 'all sites'} (n={b.n})" for b in boxes],
        "q1": [b.q1 for b in boxes], "median": [b.median for b in boxes],
        "q3": [b.q3 for b in boxes], "lowerfence": [b.low for b in boxes],
        "upperfence": [b.high for b in boxes], "mean": [b.mean for b in boxes],
        "marker": {"color": ACCENT}, "name": metric,
    }
    return {"data": [trace], "layout": _layout(
        f"{metric} over cases, per site", height=280, showlegend=False,
        yaxis={"title": {"text": f"{metric}{_unit(unit)}"}})}


def leaderboard_charts(board: Leaderboard, sig: Significance) -> dict[str, Figure]:
    return {"ci": ci_chart(board), "stability": stability_chart(board),
            "significance": significance_chart(sig)}


def model_charts(page: ModelPage) -> dict[str, Figure]:
    units = {m.name: m.unit for m in page.metrics}
    charts = {f"box-{metric}": box_chart(metric, units[metric], page.distributions)
              for metric in page.gallery.columns}
    if page.curves:
        charts["curves"] = curves_chart(page.curves)
    return charts
