"""F17 robustness beyond accuracy: conditional consistency per perturbation kind, and effective robustness.

* **Consistency** (left): P(perturbed correct | original correct) of each final checkpoint, per kind and pooled
  over the surface kinds; one point per seed, a box per target style. A checkpoint that learned rules keeps
  what it solved when only the surface changes (near 1); one that learned surface associations loses it.
* **Effective robustness** (right): every graded checkpoint of every run as a point, accuracy on the originals
  (x) against accuracy on surface-perturbed versions (y), a run's steps joined in order, its final one
  outlined. Points on the diagonal lose nothing; an arm whose points lie above another's at the same x is more
  robust at equal in-distribution accuracy, which a comparison of final checkpoints alone cannot show.

Nothing here computes a statistic: the points are analysis.robustness's tables.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.figures.theme import colour, empty, styled

TARGETS = ("answer", "solution", "theorem")


def _ordered_targets(values) -> list[str]:
    present = set(values)
    return [t for t in TARGETS if t in present] + sorted(present - set(TARGETS))


def f17_robustness(consistency: pd.DataFrame, effective: pd.DataFrame) -> go.Figure:
    title = "F17 Consistency under perturbation and effective robustness"
    if consistency.empty and effective.empty:
        return empty(title, "no evaluations of originals with perturbed versions")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.1,
                        subplot_titles=["P(perturbed right | original right), final checkpoints",
                                        "surface vs original accuracy over training"])
    kinds = [*sorted(set(consistency["kind"]) - {"surface"}), "surface"] if len(consistency) else []
    for target in _ordered_targets(consistency["target"] if len(consistency) else []):
        part = consistency[consistency["target"] == target]
        fig.add_trace(go.Box(x=part["kind"], y=part["consistency"], name=f"{target}-SFT", legendgroup=target,
                             marker_color=colour(target, part["params"].iloc[0]), boxpoints="all", pointpos=0,
                             customdata=part[["model", "pairs"]].to_numpy(),
                             hovertemplate="%{customdata[0]} %{x}: %{y:.3f} (%{customdata[1]} pairs)<extra></extra>"),
                      row=1, col=1)
    for (model, target), run in (effective.groupby(["model", "target"], sort=True) if len(effective) else []):
        run = run.sort_values("step")
        shade = colour(target, run["params"].iloc[0])
        fig.add_trace(go.Scatter(x=run["original"], y=run["surface"], mode="lines+markers", legendgroup=target,
                                 showlegend=False, line={"color": shade, "width": 1}, marker={"size": 5},
                                 customdata=run[["step"]].to_numpy(),
                                 hovertemplate=f"{model} step %{{customdata[0]}}: original %{{x:.3f}}, "
                                               "surface %{y:.3f}<extra></extra>"), row=1, col=2)
        last = run[run["final"].astype(bool)]
        fig.add_trace(go.Scatter(x=last["original"], y=last["surface"], mode="markers", legendgroup=target,
                                 showlegend=False, marker={"size": 11, "color": shade,
                                                           "line": {"color": "black", "width": 1.5}},
                                 hoverinfo="skip"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False, hoverinfo="skip",
                             line={"color": "#999", "dash": "dot"}), row=1, col=2)
    fig.update_xaxes(categoryorder="array", categoryarray=kinds, tickangle=-35, row=1, col=1)
    fig.update_yaxes(title_text="consistency", range=[0, 1.02], row=1, col=1)
    fig.update_xaxes(title_text="accuracy on originals", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="accuracy on surface-perturbed", range=[0, 1], row=1, col=2)
    longest = max((len(k) for k in kinds), default=8)
    return styled(fig, title, boxmode="group", height=480 + 6 * longest, width=1200, margin={"b": 30 + 6 * longest})
