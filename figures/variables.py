"""F19 where the theorem is a variable (DAS) and F20 delta inference, with their sentences for the report.

F19: one panel per (position, component), layers on x, held-out-pairs interchange accuracy on y; per checkpoint a
solid line for the learned subspace at the largest k measured, a dotted line for the full-vector patch (hover
gives the values). The 0.8 line is `das_first`'s threshold. F20: per arm, accuracy on the originals and surface
robustness of each delta variant (base, attention updates only, MLP updates only, both, the checkpoint), with
95% intervals over seeds and originals. Nothing here computes a statistic: the points are analysis.variables's.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.analysis.variables import LEARNED
from tsft.figures.theme import colour, empty, error_y, interval_text, model_colour, number, styled

VARIANT_ORDER = ("base", "attn", "mlp", "blocks", "all")


def f19_das(das: pd.DataFrame) -> go.Figure:
    title = "F19 Where the theorem is a variable: held-out interchange accuracy of a learned subspace (DAS)"
    if das.empty:
        return empty(title, "no DAS results (tsft patch das)")
    held = das[das["split"] == "heldout_pairs"]
    panels = sorted({(p, c) for p, c in zip(held["position"], held["component"], strict=True)})
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=[f"{c} at {p}" for p, c in panels])
    k_top = int(held.loc[held["method"] == "das", "k"].max()) if (held["method"] == "das").any() else None
    for col, (position, component) in enumerate(panels, start=1):
        panel = held[(held["position"] == position) & (held["component"] == component)]
        for model, mine in panel.groupby("model", sort=True):
            for method, dash, k in (("das", "solid", k_top), ("full", "dot", None)):
                line = mine[(mine["method"] == method) & ((mine["k"] == k) if k is not None else True)]
                line = line.sort_values("layer")
                label = f"DAS k={k}" if method == "das" else "full vector"
                fig.add_trace(go.Scatter(x=line["layer"], y=line["iia"], mode="lines+markers", name=model,
                                         legendgroup=model, showlegend=col == 1 and method == "das",
                                         line={"color": model_colour(model), "dash": dash},
                                         hovertemplate=f"{model} {label} layer %{{x}}: %{{y:.2f}}<extra></extra>"),
                              row=1, col=col)
        fig.update_xaxes(title_text="layer", row=1, col=col)
    fig.add_hline(y=0.8, line={"color": "#999", "dash": "dash"})
    fig.update_yaxes(title_text="held-out IIA", range=[0, 1.02], row=1, col=1)
    return styled(fig, title, height=440, width=max(520, 330 * len(panels)))


def f20_deltas(deltas: pd.DataFrame) -> go.Figure:
    title = "F20 Delta inference: the base with only the attention or only the MLP updates of each fine-tune"
    if deltas.empty:
        return empty(title, "no delta-inference results (tsft patch deltas)")
    measures = [("original", "accuracy on originals"), ("surface", "surface robustness")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[name for _, name in measures])
    for col, (kind, _) in enumerate(measures, start=1):
        part = deltas[deltas["kind"] == kind]
        for (target, params), arm in part.groupby(["target", "params"], sort=True):
            arm = arm.set_index("variant").reindex([v for v in VARIANT_ORDER if v in set(arm["variant"])])
            arm = arm.reset_index()
            fig.add_trace(go.Bar(x=arm["variant"], y=arm["value"], name=f"{target}-{params}",
                                 legendgroup=f"{target}-{params}", showlegend=col == 1,
                                 marker_color=colour(target, params),
                                 error_y=error_y(arm, "value", "low", "high")), row=1, col=col)
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05])
    return styled(fig, title, height=420, width=1000)


def das_sentences(first: pd.DataFrame, best: pd.DataFrame) -> list[str]:
    """Per checkpoint and position: the first site a learned subspace carries the theorem at each k, against the
    full-vector patch and the best random and principal subspaces, and the illusion check."""
    lines = []
    if first.empty:
        return lines
    for (model, position), part in first.groupby(["model", "position"], sort=True):
        said = []
        for _, row in part[part["method"] == "das"].sort_values("k").iterrows():
            said.append(f"k={int(row['k'])} " + (f"layer {int(row['layer'])} {row['component']}" if row["layer"] >= 0
                                                  else f"nowhere (best {number(row['iia'], 2)})"))
        full = part[part["method"] == "full"]
        full_text = (f"layer {int(full['layer'].iloc[0])} {full['component'].iloc[0]}"
                     if len(full) and full["layer"].iloc[0] >= 0 else "nowhere")
        mine = best[(best["model"] == model) & (best["position"] == position) & (best["split"] == "heldout_pairs")]
        baseline = ", ".join(f"{m} best {number(mine.loc[mine['method'] == m, 'iia'].max(), 2)}"
                             for m in ("random", "pca") if (mine["method"] == m).any())
        illusions = mine[(mine["method"] == "das") & mine.get("illusion", pd.Series(False, index=mine.index))
                         .fillna(False).astype(bool)]
        flag = (f"; the illusion check flags k={', '.join(str(int(k)) for k in illusions['k'])}" if len(illusions)
                else "; no best subspace loses more than 0.2 without its unused directions")
        lines.append(f"{model} at {position}: held-out IIA first reaches 0.8 at {'; '.join(said)}; the full-vector "
                     f"patch at {full_text}; {baseline}{flag}.")
    return lines


def delta_sentences(deltas: pd.DataFrame, contrast: pd.DataFrame) -> list[str]:
    """Per arm: attention-only and MLP-only accuracy and robustness beside the checkpoint, and TAIA's contrast."""
    lines = []
    for (target, params), arm in (deltas.groupby(["target", "params"], sort=True) if len(deltas) else []):
        def at(variant, kind, arm=arm):
            row = arm[(arm["variant"] == variant) & (arm["kind"] == kind)]
            if not len(row):
                return "n/a"
            if kind == "surface" and not bool(row["learned"].iloc[0]):
                return f"not read (originals not determined above {LEARNED:.2f})"
            return interval_text(*row[["value", "low", "high"]].iloc[0])

        seeds = int(arm["seeds"].max())
        said = "; ".join(f"{v} {at(v, 'original')} / {at(v, 'surface')}" for v in VARIANT_ORDER
                         if (arm["variant"] == v).any())
        mine = contrast[(contrast["target"] == target) & (contrast["params"] == params)] if len(contrast) else contrast
        taia = "; ".join(f"{r['contrast']} on {r['kind']} = {interval_text(r['value'], r['low'], r['high'])}"
                         for _, r in mine.iterrows() if r["kind"] != "surface" or r["learned"]) if len(mine) else ""
        lines.append(f"{target}-{params} ({seeds} seed{'s' if seeds != 1 else ''}), accuracy on originals / surface "
                     f"robustness: {said}" + (f". {taia}" if taia else "") + ".")
    return lines
