"""Figures and report sentences for the instruments' own checks: random-location controls, ablations, estimates,
erasure and top-k restores.

* F15 `f15_controls`   - each localisation claim's value (diamond) against its random-location null (bar: the 2.5-97.5%
  range over draws, tick: its mean), one row per control;
* F16 `f16_ablations`  - faithfulness of exact patching's top-k sites under zero, mean and resample ablation, and the
  damage of ablating each layer's MLP and attention output under each mode;
* `control_sentences`, `estimate_sentences`, `ablation_sentences`, `erasure_sentences`, `restore_sentences` - the
  report's lines.

Nothing here computes a statistic: it draws analysis/ tables.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.figures.theme import empty, interval_text, number, styled

MODE_COLOURS = {"zero": "#7f7f7f", "mean": "#1f77b4", "resample": "#d62728"}
COMPONENT_DASH = {"mlp_out": "solid", "attn_out": "dot"}


def f15_controls(controls: pd.DataFrame) -> go.Figure:
    """F15: every localisation claim against the same measurement at random places."""
    title = "F15 Localisation claims against random locations (diamond: the claim; bar: 95% of random draws)"
    shown = controls.dropna(subset=["value", "null_mean"]) if len(controls) else controls
    if shown.empty:
        return empty(title, "no random-location control measured")
    labels = [f"{r['bears_on']}: {r['subject']}<br>vs {r['control']}" for _, r in shown.iterrows()]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=shown["null_high"] - shown["null_low"], base=shown["null_low"], orientation="h",
                         marker_color="#cccccc", name="random draws (2.5-97.5%)"))
    fig.add_trace(go.Scatter(y=labels, x=shown["null_mean"], mode="markers", name="random mean",
                             marker={"symbol": "line-ns-open", "size": 16, "color": "#555"}))
    fig.add_trace(go.Scatter(y=labels, x=shown["value"], mode="markers", name="claim",
                             marker={"symbol": "diamond", "size": 12, "color": "#d62728"},
                             customdata=shown["p_value"], hovertemplate="%{x:.3f} (p = %{customdata:.3f})"))
    fig.update_xaxes(title_text="value (share, accuracy, correlation or effect: see the row)")
    return styled(fig, title, height=max(320, 80 * len(shown) + 200), margin={"l": 360},
                  legend={"orientation": "h", "yanchor": "top", "y": -0.12})


def f16_ablations(faithfulness: pd.DataFrame, ablations: pd.DataFrame) -> go.Figure:
    """F16: faithfulness curves under each ablation, and each layer's damage under each ablation."""
    title = "F16 The ablation choice (zero / mean / resample)"
    if faithfulness.empty and ablations.empty:
        return empty(title, "no ablations run")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.16,
                        subplot_titles=["faithfulness of the top-k sites", "damage of one layer's block"])
    for (model, mode), part in (faithfulness.groupby(["model", "ablation"]) if len(faithfulness) else []):
        part = part.sort_values("k")
        fig.add_trace(go.Scatter(x=part["k"], y=part["faithfulness"], mode="lines+markers", name=f"{model} {mode}",
                                 line={"color": MODE_COLOURS.get(mode, "#333")}, legendgroup=mode), row=1, col=1)
    for (model, mode, component), part in (ablations.groupby(["model", "mode", "component"]) if len(ablations)
                                           else []):
        if component not in COMPONENT_DASH:
            continue
        part = part.sort_values("layer")
        fig.add_trace(go.Scatter(x=part["layer"], y=part["damage"], mode="lines", name=f"{model} {mode} {component}",
                                 line={"color": MODE_COLOURS.get(mode, "#333"), "dash": COMPONENT_DASH[component]},
                                 legendgroup=mode, showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="k (sites kept, the rest ablated)", row=1, col=1)
    fig.update_xaxes(title_text="layer (solid: MLP, dotted: attention)", row=1, col=2)
    fig.update_yaxes(title_text="1 = the clean model", row=1, col=1)
    fig.update_yaxes(title_text="1 - effect (1 = as corrupt)", row=1, col=2)
    return styled(fig, title, height=520, legend={"orientation": "h", "yanchor": "top", "y": -0.2},
                  margin={"b": 140})


def control_sentences(controls: pd.DataFrame) -> list[str]:
    lines = []
    for _, r in controls.iterrows() if len(controls) else []:
        if pd.isna(r["value"]) or pd.isna(r["null_mean"]):
            lines.append(f"{r['bears_on']}, {r['control']} ({r['subject']}): {r['note']}.")
            continue
        if 1 / (1 + r["draws"]) > 0.05:    # too few draws for any p below 0.05
            reading = ("above every draw" if r["p_value"] * (1 + r["draws"]) == 1 else "within the draws") + \
                " (too few draws for p < 0.05)"
        else:
            reading = "above the null" if r["p_value"] < 0.05 else "not above the null"
        lines.append(f"{r['bears_on']}, {r['subject']}: {number(r['value'])} against {r['control']} "
                     f"{interval_text(r['null_mean'], r['null_low'], r['null_high'])} over "
                     f"{int(r['draws'])} draws, p = {number(r['p_value'])}: {reading}. {r['note']}.")
    return lines


def estimate_sentences(estimates: pd.DataFrame) -> list[str]:
    names = {"attribution": "attribution patching", "atp_star": "AtP* (QK fix + GradDrop)"}
    lines = []
    for _, r in estimates.iterrows() if len(estimates) else []:
        extra = (f"; AtP* added {int(r['passes_qk_local_backward'])} local and {int(r['passes_graddrop_backward'])} "
                 f"partial backward passes" if r["estimate"] == "atp_star" and "passes_graddrop_backward" in r
                 and pd.notna(r["passes_graddrop_backward"]) else "")
        lines.append(f"{r['model']} ({r['pair_type']}, {int(r['pairs'])} pairs), {names.get(r['estimate'])}: "
                     f"Pearson {number(r['pearson'])} with exact patching; {int(r['false_negatives'])} of exact's top "
                     f"{int(r['top_k'])} sites missed from its own top {int(r['top_k'])}, all found within its top "
                     f"{int(r['rank_to_find_top_k'])} of {int(r['sites'])} ({int(r['passes_forward'])} forward and "
                     f"{int(r['passes_backward'])} backward passes against {int(r['passes_exact_forward'])} exact "
                     f"forwards{extra}).")
    return lines


def ablation_sentences(agreement: pd.DataFrame, faithfulness: pd.DataFrame) -> list[str]:
    lines = [f"{r['model']}, {r['a']} vs {r['b']} ablation: site damages correlate {number(r['spearman'])} "
             f"(Spearman); most damaging site {r['top_a']} vs {r['top_b']}."
             for _, r in (agreement.iterrows() if len(agreement) else [])]
    for (model, k), part in (faithfulness.groupby(["model", "k"]) if len(faithfulness) else []):
        said = ", ".join(f"{r['ablation']} {number(r['faithfulness'])}" for _, r in part.iterrows())
        lines.append(f"{model}, faithfulness of the top {int(k)} sites: {said}.")
    return lines


def erasure_sentences(erasure: pd.DataFrame) -> list[str]:
    lines = []
    for (model, site, label), part in (erasure.groupby(["model", "site", "label"]) if len(erasure) else []):
        by = part.set_index("condition")

        def read(condition, metric, by=by):
            return number(by.loc[condition, metric]) if condition in by.index and metric in by else "n/a"

        for condition in [c for c in by.index if c not in ("none", "random", "oracle")]:
            lines.append(
                f"{model}, {label} erased at {site} by {condition} (rank {int(by.loc[condition, 'rank'])}): probe "
                f"accuracy {read('none', 'probe_accuracy')} -> {read(condition, 'probe_accuracy')} (random subspaces "
                f"of that rank {read('random', 'probe_accuracy')}); answer accuracy {read('none', 'answer_accuracy')}"
                f" -> {read(condition, 'answer_accuracy')} (random {read('random', 'answer_accuracy')}); theorem "
                f"identified {read('none', 'theorem_identified')} -> {read(condition, 'theorem_identified')}; mean "
                f"squared edit {read(condition, 'mean_sq_change')} vs {read('random', 'mean_sq_change')}.")
    return lines


def restore_sentences(restore: pd.DataFrame) -> list[str]:
    lines = []
    for (model, kind), part in (restore.groupby(["model", "kind"], sort=False) if len(restore) else []):
        said = ", ".join(f"{r['k']} {number(r['accuracy'])}" for _, r in part.iterrows())
        lines.append(f"The base with the top-k directions of {model}'s update restored, {kind} accuracy: {said}.")
    return lines


def share_sentences(shares: pd.DataFrame) -> list[str]:
    """C4's MLP share readings (analysis.shares), one sentence each."""
    return [f"{r['reading']} ({r['subject']}): {interval_text(r['value'], r['ci_low'], r['ci_high'])}, "
            f"{int(r['n_seeds'])} seeds, {int(r['n_units'])} pairs ({r['interval']})"
            + (f"; {r['note']}." if r["note"] else ".")
            for _, r in (shares.iterrows() if len(shares) else [])]


def mib_sentences(mib: pd.DataFrame) -> list[str]:
    """Per checkpoint and ablation: each ranking's CPR and CMD beside the mean of the random orderings (MIB)."""
    lines = []
    for (model, ablation), part in (mib.groupby(["model", "ablation"], sort=True) if len(mib) else []):
        random = part[part["ranking"].str.startswith("random")]
        chosen = part[~part["ranking"].str.startswith("random")]
        said = "; ".join(f"{r['ranking']} CPR {number(r['cpr'])}, CMD {number(r['cmd'])}" for _, r in chosen.iterrows())
        lines.append(f"MIB, {model} under {ablation} ablation: {said} (random orderings: CPR "
                     f"{number(random['cpr'].mean())}, CMD {number(random['cmd'].mean())}; higher CPR and lower "
                     "CMD are better).")
    return lines
