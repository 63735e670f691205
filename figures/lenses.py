"""F18 lenses: at which layer the right theorem name (or answer) becomes the lens's top token.

One panel per lens (logit, tuned), layers on x, the share of problems whose right token is the lens's top token
on y; a line per checkpoint, solid on the originals and dotted on each perturbation kind (hover names it). The
layer where a line first reaches one half is `lens_decodable`'s. Nothing here computes a statistic: the points are
probes.lens_tables.lens_summary's.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.figures.theme import empty, model_colour, styled


def f18_lens(lens: pd.DataFrame) -> go.Figure:
    title = "F18 Lenses: the layer where the right token becomes the top prediction"
    if lens.empty:
        return empty(title, "no lens results (tsft probe lens)")
    lenses = [name for name in ("logit", "tuned") if name in set(lens["lens"])]
    fig = make_subplots(rows=1, cols=len(lenses), shared_yaxes=True,
                        subplot_titles=[f"{name} lens" for name in lenses])
    for col, name in enumerate(lenses, start=1):
        panel = lens[lens["lens"] == name]
        for (model, kind), line in panel.groupby(["model", "kind"], sort=True):
            line = line.sort_values("layer")
            fig.add_trace(go.Scatter(x=line["layer"], y=line["top1"], mode="lines", name=model, legendgroup=model,
                                     showlegend=col == 1 and kind == "original",
                                     line={"color": model_colour(model), "dash": "solid" if kind == "original"
                                           else "dot"},
                                     hovertemplate=f"{model} {kind} layer %{{x}}: %{{y:.2f}}<extra></extra>"),
                          row=1, col=col)
        fig.update_xaxes(title_text="layer", row=1, col=col)
    fig.add_hline(y=0.5, line={"color": "#999", "dash": "dash"})
    fig.update_yaxes(title_text="share read at top-1", range=[0, 1.02], row=1, col=1)
    return styled(fig, title, height=440, width=520 * len(lenses))


def lens_sentences(decodable: pd.DataFrame) -> list[str]:
    """Per checkpoint, lens and style: the first layer the right token is decodable on the originals, and the kinds
    on which it comes later or never (lens_decodable's values)."""
    lines = []
    for (model, lens_name, style), part in (decodable.groupby(["model", "lens", "style"], sort=True)
                                           if len(decodable) else []):
        layers = int(part["layers"].max())
        at = dict(zip(part["kind"], part["decodable_layer"], strict=True))
        first = at.get("original")
        head = f"{model}, {lens_name} lens, {style} token:"
        if pd.isna(first):
            sooner = [f"{kind} {int(layer)}" for kind, layer in sorted(at.items()) if pd.notna(layer)]
            lines.append(f"{head} decodable on the originals at none of {layers} layers"
                         + (f"; under {', '.join(sooner)}" if sooner else ", nor under any perturbation") + ".")
            continue
        later = [f"{kind} {'never' if pd.isna(layer) else int(layer)}" for kind, layer in sorted(at.items())
                 if kind != "original" and (pd.isna(layer) or layer > first)]
        lines.append(f"{head} decodable on the originals at layer {int(first)} of {layers}"
                     + (f"; later or never under {', '.join(later)}" if later else "") + ".")
    return lines
