"""Figures of the insides: F3 patching heatmaps, F4 probes by layer, F5 probe transfer, F6 across checkpoints,
F7 weight change. Each is `table -> go.Figure` over an analysis/ table.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.figures.theme import COMPONENT_COLOURS, empty, error_y, model_colour, styled

COMPONENTS = ("resid_pre", "attn_out", "mlp_hidden", "mlp_out", "resid_post")


def f3_patching(patch_map: pd.DataFrame) -> go.Figure:
    """F3, the layer-attribution plot: layer x component patching effect on theorem-swap pairs per checkpoint,
    side by side on one colour scale (0 = the corrupt run, 1 = the clean run)."""
    title = "F3 Where the theorem choice is carried: activation patching, layer x component"
    if patch_map.empty:
        return empty(title, "no theorem-swap patching results")
    models = list(dict.fromkeys(patch_map["model"]))
    components = [c for c in COMPONENTS if c in set(patch_map["component"])]
    layers = sorted(set(patch_map["layer"]))
    fig = make_subplots(rows=1, cols=len(models), shared_yaxes=True, subplot_titles=models,
                        horizontal_spacing=0.02)
    for col, model in enumerate(models, start=1):
        grid = (patch_map[patch_map["model"] == model].pivot_table(index="layer", columns="component", values="effect")
                .reindex(index=layers, columns=components))
        fig.add_trace(go.Heatmap(z=grid.to_numpy(), x=components, y=layers, coloraxis="coloraxis",
                                 text=grid.round(2).to_numpy(), texttemplate="%{text}",
                                 hovertemplate=f"{model}<br>layer %{{y}} %{{x}}: %{{z:.3f}}<extra></extra>"),
                      row=1, col=col)
    fig.update_yaxes(title_text="layer", autorange="reversed", row=1, col=1)
    # The scale's meaning is 0 = corrupt, 1 = clean: colours saturate beyond +-1, the numbers stay exact.
    return styled(fig, title, coloraxis={"colorscale": "RdBu", "cmid": 0, "cmin": -1.0, "cmax": 1.0,
                                         "colorbar": {"title": "effect"}},
                  height=140 + 45 * len(layers), width=max(600, 260 * len(models)))


def f4_probes(probes: pd.DataFrame, label: str = "theorem", component: str = "resid_post",
              position: str = "last") -> go.Figure:
    """F4: probe accuracy (solid) and selectivity = accuracy - control accuracy (dashed) vs layer per checkpoint,
    with 95% intervals over folds; the majority baseline dotted."""
    title = f"F4 Linear probes for {label} ({component}, {position} token) by layer"
    if probes.empty:
        return empty(title, "no probe results")
    keep = (probes["label"] == label) & (probes["component"] == component) & (probes["position"] == position)
    frame = probes[keep & (probes["kind"].isna() | probes["kind"].isin(["", "original"]))]
    if frame.empty:
        return empty(title, f"no {label} probes at {component}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["accuracy (majority dotted)", "selectivity"])
    for model in dict.fromkeys(frame["model"]):
        mine = frame[frame["model"] == model]
        for col, metric, dash in ((1, "accuracy", "solid"), (2, "selectivity", "dash"), (1, "majority", "dot")):
            part = mine[mine["metric"] == metric].sort_values("layer")
            fig.add_trace(go.Scatter(x=part["layer"], y=part["value"], mode="lines+markers", name=model,
                                     legendgroup=model, showlegend=metric == "accuracy",
                                     line={"color": model_colour(model), "dash": dash},
                                     error_y=error_y(part) if metric != "majority" else None),
                          row=1, col=col)
    layers = sorted(set(frame["layer"]))
    fig.update_xaxes(title_text="layer", dtick=1, range=[layers[0] - 0.3, layers[-1] + 0.3])
    fig.update_yaxes(range=[-0.1, 1.05])
    return styled(fig, title, height=400)


def f5_transfer(transfer: pd.DataFrame) -> go.Figure:
    """F5: accuracy of each checkpoint's theorem probe (at its peak-selectivity layer) on held-out originals and
    on their perturbed versions, per kind."""
    title = "F5 Probe transfer to perturbations (theorem probe, peak-selectivity layer)"
    if transfer.empty:
        return empty(title, "no probe transfer results")
    fig = go.Figure()
    kinds = ["original", *sorted(set(transfer["kind"]) - {"original"})]
    for (model, component), part in transfer.groupby(["model", "component"], sort=False):
        part = part.set_index("kind").reindex(kinds).dropna(subset=["value"]).reset_index()
        fig.add_trace(go.Bar(x=part["kind"], y=part["value"], name=f"{model} ({component}, L{part['layer'].iloc[0]})",
                             marker_color=model_colour(model), error_y=error_y(part)))
    return styled(fig, title, barmode="group", yaxis={"title": "probe accuracy", "range": [0, 1.05]}, height=400)


def f6_across(cross: pd.DataFrame, transplant: pd.DataFrame) -> go.Figure:
    """F6: cross-checkpoint patching by layer (A's activation into B; 1 = B behaves as A), against its
    random-direction control where measured (dotted), and MLP transplant accuracy by layer window (none = B alone,
    source = A alone)."""
    title = "F6 Across checkpoints: activation patching and MLP transplant by layer"
    if cross.empty and transplant.empty:
        return empty(title, "no cross-checkpoint results")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["A into B, patched (1 = B acts as A)",
                                                        "B with A's MLP weights: accuracy"], horizontal_spacing=0.12)
    for (pair, component), part in cross.groupby(["model", "component"], sort=False) if len(cross) else ():
        part = part.sort_values("layer")
        colour = COMPONENT_COLOURS.get(component, "#555")
        fig.add_trace(go.Scatter(x=part["layer"], y=part["effect"], mode="lines+markers", name=f"{pair} {component}",
                                 line={"color": colour}), row=1, col=1)
        if "control_max" in part:  # the random-direction control: the largest effect over its draws
            fig.add_trace(go.Scatter(x=part["layer"], y=part["control_max"], mode="lines",
                                     name=f"{component}: random direction, same norm (max over draws)",
                                     line={"color": colour, "dash": "dot"}), row=1, col=1)
    for (source, target, kind), part in transplant.groupby(["source", "target", "kind"], sort=False) \
            if len(transplant) else ():
        fig.add_trace(go.Bar(x=part["layers"].astype(str), y=part["accuracy"], name=f"{source} -> {target}: {kind}",
                             error_y=error_y(part, "accuracy")), row=1, col=2)
    fig.update_xaxes(title_text="layer", row=1, col=1)
    fig.update_xaxes(title_text="layers transplanted", type="category", tickangle=0, row=1, col=2)
    return styled(fig, title, barmode="group", height=520, width=1100,
                  legend={"orientation": "h", "y": -0.25, "x": 0})


def f7_weights(weights: pd.DataFrame) -> go.Figure:
    """F7: relative Frobenius weight change from the base per layer, one panel per block, a line per checkpoint."""
    title = "F7 Weight change from the base, by block and layer (||W - W0|| / ||W0||)"
    if weights.empty:
        return empty(title, "no weight comparison")
    layered = weights[weights["layer"] >= 0]
    blocks = [b for b in ("attn", "mlp", "norm") if b in set(layered["block"])]
    fig = make_subplots(rows=1, cols=len(blocks), shared_yaxes=True, subplot_titles=blocks)
    for col, block in enumerate(blocks, start=1):
        for model, part in layered[layered["block"] == block].groupby("model", sort=False):
            part = part.sort_values("layer")
            fig.add_trace(go.Scatter(x=part["layer"], y=part["change"], mode="lines+markers", name=model,
                                     legendgroup=model, showlegend=col == 1, line={"color": model_colour(model)}),
                          row=1, col=col)
    fig.update_xaxes(title_text="layer", dtick=1)
    fig.update_yaxes(title_text="relative change", row=1, col=1)
    return styled(fig, title, height=380)
