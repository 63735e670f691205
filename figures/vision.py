"""The diagram world's figures: F9 where the figure's given is read (position-group patching), F10 probes for
the figure-only value, F11 theorem-SFT minus answer-SFT. Each is `table -> go.Figure` over an analysis/ table.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.figures.theme import COMPONENT_COLOURS, empty, error_y, model_colour, styled

GROUPS = ("image", "text", "last")
COMPONENTS = ("resid_pre", "attn_out", "mlp_out")


def _rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    present = set(zip(frame["component"], frame["group"], strict=True))
    return [(c, g) for c in COMPONENTS for g in GROUPS if (c, g) in present]


def f9_groups(group_map: pd.DataFrame) -> go.Figure:
    """F9: restoration by layer (columns) and component x position group (rows), one panel per checkpoint, on one
    colour scale (0 = the swapped figure, 1 = the original figure)."""
    title = "F9 Where the figure's given is read: patching image, text and last positions"
    if group_map.empty:
        return empty(title, "no position-group patching results (run with --modality vision)")
    models = list(dict.fromkeys(group_map["model"]))
    rows, layers = _rows(group_map), sorted(set(group_map["layer"]))
    labels = [f"{c} @ {g}" for c, g in rows]
    fig = make_subplots(rows=1, cols=len(models), shared_yaxes=True, subplot_titles=models, horizontal_spacing=0.02)
    for col, model in enumerate(models, start=1):
        mine = group_map[group_map["model"] == model].set_index(["component", "group", "layer"])["effect"]
        z = [[mine.get((c, g, layer), float("nan")) for layer in layers] for c, g in rows]
        fig.add_trace(go.Heatmap(z=z, x=[f"L{layer}" for layer in layers], y=labels, coloraxis="coloraxis",
                                 text=[[f"{v:.2f}" for v in line] for line in z], texttemplate="%{text}",
                                 hovertemplate=f"{model}<br>%{{y}} %{{x}}: %{{z:.3f}}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    return styled(fig, title, coloraxis={"colorscale": "RdBu", "cmid": 0, "cmin": -1.0, "cmax": 1.0,
                                         "colorbar": {"title": "restored"}},
                  height=160 + 32 * len(rows), width=max(600, 90 * len(layers) * len(models) + 260),
                  margin={"l": 150})


def f10_figure_probes(probes: pd.DataFrame) -> go.Figure:
    """F10: accuracy of a linear probe for the figure-only value by layer, at the image tokens, the problem text
    and the last position (resid_post), one line per checkpoint and position, 95% intervals over folds."""
    title = "F10 Probes for the value written only on the figure (resid_post)"
    if probes.empty or "figure_value" not in set(probes["label"]):
        return empty(title, "no figure_value probes")
    frame = probes[(probes["label"] == "figure_value") & (probes["component"] == "resid_post")
                   & (probes["kind"].isna() | probes["kind"].isin(["", "original"]))]
    positions = [p for p in ("image", "problem", "last") if p in set(frame["position"])]
    fig = make_subplots(rows=1, cols=len(positions), shared_yaxes=True, subplot_titles=positions)
    for col, position in enumerate(positions, start=1):
        for model, part in frame[(frame["position"] == position) & (frame["metric"] == "accuracy")].groupby(
                "model", sort=False):
            part = part.sort_values("layer")
            fig.add_trace(go.Scatter(x=part["layer"], y=part["value"], mode="lines+markers", name=model,
                                     legendgroup=model, showlegend=col == 1, error_y=error_y(part),
                                     line={"color": model_colour(model)}), row=1, col=col)
    fig.update_xaxes(title_text="layer", dtick=1)
    fig.update_yaxes(title_text="probe accuracy", range=[-0.05, 1.05], row=1, col=1)
    return styled(fig, title, height=380)


def f11_reading(reading: pd.DataFrame) -> go.Figure:
    """F11: theorem-SFT minus answer-SFT restoration per layer, one panel per position group, a line per
    component, with 95% paired-bootstrap intervals (0 = no difference)."""
    title = "F11 Theorem-SFT minus answer-SFT: where each reads the figure"
    if reading.empty:
        return empty(title, "no theorem-full and answer-full position-group patching to compare")
    groups = [g for g in GROUPS if g in set(reading["group"])]
    fig = make_subplots(rows=1, cols=len(groups), shared_yaxes=True, subplot_titles=groups)
    for col, group in enumerate(groups, start=1):
        for component, part in reading[reading["group"] == group].groupby("component", sort=False):
            part = part.sort_values("layer")
            fig.add_trace(go.Scatter(x=part["layer"], y=part["difference"], mode="lines+markers", name=component,
                                     legendgroup=component, showlegend=col == 1,
                                     error_y=error_y(part, "difference"),
                                     line={"color": COMPONENT_COLOURS.get(component, "#555")}), row=1, col=col)
        fig.add_hline(y=0, line={"color": "#999", "dash": "dot"}, row=1, col=col)
    fig.update_xaxes(title_text="layer", dtick=1)
    fig.update_yaxes(title_text="theorem - answer", row=1, col=1)
    return styled(fig, title, height=380)


def reading_sentences(reading: pd.DataFrame, gaps: pd.DataFrame | None = None) -> list[str]:
    """One sentence per (position group, component): the layer where theorem-SFT and answer-SFT differ most, and
    whether the paired interval lets the difference be called one. First, for each compared model whose figure gap
    (clean - corrupt at the read token) has an interval containing 0, a sentence saying its map cannot locate
    anything."""
    if reading.empty:
        return []
    out = []
    compared = set(reading[["a", "b"]].iloc[0]) if {"a", "b"} <= set(reading) else set()
    for _, gap in (gaps if gaps is not None else pd.DataFrame(columns=["model"])).iterrows():
        if gap["model"] in compared and gap["ci_low"] <= 0 <= gap["ci_high"]:
            out.append(f"The figure does not move {gap['model']}'s read token: clean - corrupt = {gap['gap']:.3f} "
                       f"[{gap['ci_low']:.3f}, {gap['ci_high']:.3f}] over {int(gap['n'])} pairs, so where it reads "
                       "the figure cannot be located; its restorations below divide by a vanishing difference.")
    for (group, component), part in reading.groupby(["group", "component"], sort=False):
        row = part.loc[part["difference"].abs().idxmax()]
        excludes = row["ci_low"] > 0 or row["ci_high"] < 0
        verdict = (f"{'theorem' if row['difference'] > 0 else 'answer'}-SFT relies on it more there"
                   if excludes else "the interval contains 0, so no difference is claimed")
        out.append(f"{component} at the {group} positions: largest theorem - answer difference at layer "
                   f"{int(row['layer'])} = {row['difference']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] "
                   f"over {int(row['n'])} pairs (the largest of {len(part)} layers; the interval does not correct "
                   f"for that choice); {verdict}.")
    return out
