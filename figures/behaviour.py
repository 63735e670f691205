"""Behaviour figures: F1 accuracy under each perturbation, F2 parameter selections, F8 template instances.

Each is a function `table -> go.Figure` over an analysis/ table; nothing here computes a statistic.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.figures.theme import colour, empty, error_y, styled

PARAMS_ORDER = ("full", "mlp", "attn")


def _ordered(values, first=PARAMS_ORDER) -> list:
    present = list(dict.fromkeys(values))
    return [v for v in first if v in present] + sorted(v for v in present if v not in first)


def whole_selections(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of whole-model selections (full, mlp, attn...): per-layer runs (`mlp:L-L`) and random-location runs
    (`random:<draw>`) belong to E7."""
    return table[~table["params"].astype(str).str.contains(":")] if len(table) else table


def f1_accuracy(accuracy: pd.DataFrame) -> go.Figure:
    """F1: accuracy on the originals and under each perturbation kind, grouped by training target (one panel per
    parameter selection), with 95% intervals over seeds and problems."""
    title = "F1 Accuracy under each perturbation, by training target"
    accuracy = whole_selections(accuracy)
    if accuracy.empty:
        return empty(title, "no evaluations")
    params = _ordered(accuracy["params"])
    kinds = ["original", *sorted(set(accuracy["kind"]) - {"original", "surface"}), "surface"]
    fig = make_subplots(rows=len(params), cols=1, shared_xaxes=True, subplot_titles=[f"params = {p}" for p in params],
                        vertical_spacing=0.08)
    for row, selection in enumerate(params, start=1):
        panel = accuracy[accuracy["params"] == selection]
        for target in _ordered(panel["target"], ("answer", "solution", "theorem")):
            part = panel[panel["target"] == target].set_index("kind").reindex(kinds).dropna(subset=["accuracy"])
            part = part.reset_index()
            fig.add_trace(go.Bar(x=part["kind"], y=part["accuracy"], name=f"{target}-SFT", legendgroup=target,
                                 showlegend=row == 1, marker_color=colour(target, selection),
                                 error_y=error_y(part, "accuracy"),
                                 customdata=part[["n_seeds"]].to_numpy(),
                                 hovertemplate="%{x}: %{y:.3f} (%{customdata[0]} seeds)<extra></extra>"),
                          row=row, col=1)
        fig.update_yaxes(title_text="accuracy", range=[0, 1], row=row, col=1)
    # kind names are long (letter_rename_novel): rotated, with the bottom margin they need so none is clipped
    longest = max(len(k) for k in kinds)
    fig.update_xaxes(tickangle=-35, categoryorder="array", categoryarray=kinds)
    return styled(fig, title, barmode="group", height=320 * len(params) + 6 * longest,
                  width=max(760, 62 * len(kinds) + 120), margin={"b": 30 + 6 * longest})


def f2_selection(selection: pd.DataFrame) -> go.Figure:
    """F2: MLP-only vs full vs attention-only tuning at the same budget, per target, on originals and pooled
    surface perturbations."""
    title = "F2 MLP-only vs full vs attention-only tuning (same steps)"
    selection = whole_selections(selection)
    if selection.empty:
        return empty(title, "no evaluations")
    kinds = [k for k in ("original", "surface") if k in set(selection["kind"])]
    fig = make_subplots(rows=1, cols=len(kinds), shared_yaxes=True, subplot_titles=kinds)
    for col, kind in enumerate(kinds, start=1):
        panel = selection[selection["kind"] == kind]
        for params in _ordered(panel["params"]):
            part = panel[panel["params"] == params]
            fig.add_trace(go.Bar(x=part["target"], y=part["accuracy"], name=params, legendgroup=params,
                                 showlegend=col == 1, error_y=error_y(part, "accuracy"),
                                 marker_color=[colour(t, params) for t in part["target"]],
                                 marker_pattern_shape={"full": "", "mlp": "/", "attn": "."}.get(params, "x")),
                          row=1, col=col)
    fig.update_yaxes(title_text="accuracy", range=[0, 1], row=1, col=1)
    return styled(fig, title, barmode="group", height=380)


def f8_templates(templates: pd.DataFrame) -> go.Figure:
    """F8 (GSM-Symbolic style): the distribution over templates of accuracy on each template's instances, per
    checkpoint, for originals and pooled surface perturbations."""
    title = "F8 Accuracy over template instances (one point per template)"
    if templates.empty:
        return empty(title, "no per-template results (the data has no template ids)")
    fig = go.Figure()
    for group, side in (("original", "negative"), ("surface", "positive")):
        part = templates[templates["group"] == group]
        if part.empty:
            continue
        fig.add_trace(go.Violin(x=part["model"], y=part["accuracy"], name=group, side=side, points="all",
                                pointpos=-0.5 if side == "negative" else 0.5, jitter=0.2, scalemode="count",
                                line_color="#444" if group == "original" else "#999",
                                fillcolor="rgba(31,119,180,0.25)" if group == "original" else "rgba(214,39,40,0.2)",
                                customdata=part[["template", "n"]].to_numpy(),
                                hovertemplate="%{customdata[0]}: %{y:.2f} over %{customdata[1]}<extra></extra>"))
    models = list(dict.fromkeys(templates["model"]))
    fig.update_xaxes(categoryorder="array", categoryarray=models, tickangle=-30)
    return styled(fig, title, violinmode="overlay", yaxis={"title": "accuracy per template", "range": [-0.1, 1.05]},
                  height=460, width=max(700, 110 * len(models)), margin={"b": 110})
