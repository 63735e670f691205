"""Figures and report sentences for the evidence a reviewer asks for beside the verdicts.

* F12 `f12_chain`    - where perturbations break a generated theorem application: the share of outputs whose first
  error is in naming, a premise, a binding, the plan, the arithmetic or the final answer, per arm and kind;
* F13 `f13_readings` - C1 and C2 at the final, matched and OOD-peak checkpoints, with their 95% intervals;
* F14 `f14_updates`  - the SVD view of the updates: effective rank per block, theorem vs answer overlap by layer;
* `mixed_sentences`, `checkpoint_reading_sentences`, `chain_sentences`, `contamination_sentence`,
  `update_sentences`, `cross_control_sentences`, `budget_sentences` - the report's plain-words lines for the mixed
  model, the readings, the chain, the contamination scan, the updates, cross-checkpoint patching against its
  control and the training controls.

Like every figure module, nothing here computes a statistic: it draws analysis/ tables.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsft.figures.theme import empty, error_y, interval_text, number, styled

ERRORS = ("format", "naming", "premise", "binding", "plan", "arithmetic", "answer", "none")
ERROR_COLOURS = {"format": "#7f7f7f", "naming": "#9467bd", "premise": "#8c564b", "binding": "#e377c2",
                 "plan": "#ff7f0e", "arithmetic": "#d62728", "answer": "#bcbd22", "none": "#2ca02c"}
BLOCK_COLOURS = {"attn": "#ff7f0e", "mlp": "#9467bd"}
READING_NAMES = {"final": "final", "matched": "matched accuracy", "ood_peak": "OOD peak"}


def f12_chain(traces: pd.DataFrame) -> go.Figure:
    """F12: the first error of each generated chain, per arm (panel) and perturbation kind (bar)."""
    title = "F12 Where the chain breaks: first error of generated theorem / solution traces"
    if traces.empty:
        return empty(title, "no theorem- or solution-style evaluations")
    arms = [(t, p) for t, p in traces[["target", "params"]].drop_duplicates().itertuples(index=False)]
    arms = sorted(arms, key=lambda a: (a[0] != "theorem", a[1] != "full", a))
    kinds = ["original", "surface", *sorted(set(traces["kind"]) - {"original", "surface"})]
    fig = make_subplots(rows=len(arms), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[f"{t}-SFT, {p}" for t, p in arms])
    for row, (target, params) in enumerate(arms, start=1):
        part = traces[(traces["target"] == target) & (traces["params"] == params)].set_index("kind").reindex(kinds)
        part = part.dropna(subset=["n"]).reset_index()
        for error in ERRORS:
            fig.add_trace(go.Bar(x=part["kind"], y=part[f"first_{error}"], name=error, legendgroup=error,
                                 showlegend=row == 1, marker_color=ERROR_COLOURS[error],
                                 hovertemplate=f"{error}: %{{y:.2f}}<extra></extra>"), row=row, col=1)
        fig.update_yaxes(title_text="share", range=[0, 1], row=row, col=1)
    return styled(fig, title, barmode="stack", height=260 * len(arms) + 120, margin={"b": 120})


def f13_readings(readings: pd.DataFrame) -> go.Figure:
    """F13: C1 and C2 read at the final, matched and OOD-peak checkpoints (95% intervals; 0 = no effect)."""
    title = "F13 C1 and C2 at the final, matched and OOD-peak checkpoints"
    if readings.empty:
        return empty(title, "no evaluations of theorem- and answer-SFT")
    claims = sorted(set(readings["claim"]))
    effects = readings.drop_duplicates("claim").set_index("claim")["effect"].str.split(",").str[0]
    fig = make_subplots(rows=1, cols=len(claims), subplot_titles=[f"{c}: {effects[c]}" for c in claims])
    for col, claim in enumerate(claims, start=1):
        part = readings[readings["claim"] == claim].assign(name=lambda f: f["reading"].map(READING_NAMES))
        fig.add_trace(go.Scatter(x=part["name"], y=part["value"], mode="markers", marker={"size": 10},
                                 error_y=error_y(part), showlegend=False,
                                 hovertemplate="%{x}: %{y:.3f}<extra></extra>"), row=1, col=col)
        fig.add_hline(y=0, line_dash="dash", line_color="#999", row=1, col=col)
        fig.update_yaxes(title_text="effect (0 = none)" if col == 1 else "", row=1, col=col)
    fig.update_annotations(font_size=12)
    return styled(fig, title, height=400, margin={"t": 90})


def _interval(value, low, high) -> str:
    return "n/a" if number(value) == "n/a" else interval_text(value, low, high)


def mixed_sentences(claims: pd.DataFrame) -> list[str]:
    rows = claims[claims["glmm_agreement"].astype(str) != ""] if "glmm_agreement" in claims else claims.iloc[0:0]
    return [f"{r['claim']}: bootstrap {_interval(r['value'], r['ci_low'], r['ci_high'])}; mixed model "
            f"(log-odds) {_interval(r['glmm_value'], r['glmm_low'], r['glmm_high'])}: {r['glmm_agreement']}."
            for _, r in rows.iterrows()]


def checkpoint_reading_sentences(readings: pd.DataFrame) -> list[str]:
    if readings.empty:
        return []
    return [f"{r['claim']} at {READING_NAMES.get(r['reading'], r['reading'])}: {r['verdict']}, "
            f"{_interval(r['value'], r['ci_low'], r['ci_high'])} ({int(r['n_seeds'])} seeds)."
            for _, r in readings.iterrows()]


def chain_sentences(traces: pd.DataFrame) -> list[str]:
    lines: list[str] = []
    if traces.empty:
        return lines
    for kind in ("original", "surface", "out_of_range"):
        part = traces[traces["kind"] == kind]
        for _, r in part.iterrows():
            errors = {e: r[f"first_{e}"] for e in ERRORS if e != "none"}
            worst = max(errors, key=errors.get)
            lines.append(f"{r['target']}-{r['params']} on {kind}: {r['first_none']:.0%} of chains fully right; most "
                         f"common first error {worst} ({errors[worst]:.0%}); theorem named right "
                         f"{number(r['named_right'], percent=True)}, bindings {number(r['bindings'], percent=True)}, "
                         f"Exec arithmetic {number(r['exec_arithmetic'], percent=True)}.")
    return lines


def contamination_sentence(table: pd.DataFrame) -> str:
    if table.empty:
        return "No generations were scanned (no evaluations with outputs, or their data folders are gone)."
    flagged, canary = int(table["flagged"].sum()), int(table["canary_hits"].sum())
    return (f"{int(table['outputs'].sum())} generations of {table['model'].nunique()} checkpoints scanned: "
            f"{flagged} reproduce another test problem verbatim (half or more of its word 8-grams; largest overlap "
            f"{table['max_overlap'].max():.2f}), {canary} contain the data's canary string.")


def f14_updates(spectral: pd.DataFrame, overlap: pd.DataFrame) -> go.Figure:
    """F14: what SFT wrote into the weights: the effective rank of each block's update per checkpoint (how many
    directions it wrote; its rescaling share is in the table and the report); and, per layer, how much theorem-
    and answer-SFT's updates share their top singular directions (dotted: the chance level of random subspaces)."""
    title = "F14 The SVD view of the updates: how many directions, and theorem vs answer overlap"
    if spectral.empty:
        return empty(title, "no spectral comparison")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["effective rank of the update",
                                                        "update overlap by layer (top-k)"])
    for block in ("attn", "mlp"):
        part = spectral[spectral["block"] == block]
        fig.add_trace(go.Bar(x=part["model"], y=part["effective_rank"], name=block,
                             marker_color=BLOCK_COLOURS[block], legendgroup=block), row=1, col=1)
        lines = overlap[(overlap["block"] == block)] if len(overlap) else overlap
        for (a, b), pair in (lines.groupby(["a", "b"], sort=False) if len(lines) else []):
            pair = pair.sort_values("layer")
            fig.add_trace(go.Scatter(x=pair["layer"], y=pair["overlap"], mode="lines+markers", showlegend=False,
                                     name=f"{a} vs {b} ({block})", line={"color": BLOCK_COLOURS[block]},
                                     legendgroup=block), row=1, col=2)
            fig.add_trace(go.Scatter(x=pair["layer"], y=pair["chance"], mode="lines", showlegend=False,
                                     line={"color": BLOCK_COLOURS[block], "dash": "dot"}), row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_xaxes(title_text="layer", row=1, col=2)
    return styled(fig, title, barmode="group", height=480, margin={"b": 140})


def update_sentences(spectral: pd.DataFrame, overlap: pd.DataFrame) -> list[str]:
    """Per checkpoint: the MLP and attention updates' rescaling share and effective rank; per compared pair and
    block: the mean overlap of the update subspaces against chance."""
    lines = []
    for model, part in (spectral.groupby("model", sort=False) if len(spectral) else []):
        by_block = part.set_index("block")
        said = [f"{block} rescaling share {by_block.loc[block, 'scale_share']:.3f}, effective rank "
                f"{by_block.loc[block, 'effective_rank']:.1f}" for block in ("mlp", "attn") if block in by_block.index]
        lines.append(f"{model}: {'; '.join(said)}.")
    for (a, b, block), part in (overlap.groupby(["a", "b", "block"]) if len(overlap) else []):
        lines.append(f"{a} vs {b}, {block}: update subspaces overlap {part['overlap'].mean():.2f} "
                     f"(chance {part['chance'].mean():.2f}).")
    return lines


def cross_control_sentences(cross: pd.DataFrame) -> list[str]:
    """Per (A->B, component): the layer where A's activation moves B most, against the random-direction control
    of the same size there."""
    if cross.empty or "control_max" not in cross:
        return []
    lines = []
    for (pair, component), part in cross.groupby(["model", "component"], sort=False):
        peak = part.loc[part["effect"].idxmax()]
        verdict = "above" if peak["effect"] > peak["control_max"] else "not above"
        lines.append(f"{pair}, {component}: peak effect {peak['effect']:.2f} at layer {int(peak['layer'])}, "
                     f"{verdict} its random-direction control (max over draws {peak['control_max']:.2f}).")
    return lines


def budget_sentences(budget: pd.DataFrame) -> list[str]:
    """Per training control (analysis.budget): each measure's difference with its interval, and how it was made;
    robustness only where both sides learned the task."""
    lines = []
    for comparison, part in (budget.groupby("comparison", sort=False) if len(budget) else []):
        said = "; ".join(f"{r['measure']} " + (interval_text(r['value'], r['ci_low'], r['ci_high'])
                                              if r["learned"] or not r["measure"].startswith("robustness")
                                              else "not read (a side has not learned the task)")
                         for _, r in part.iterrows())
        first = part.iloc[0]
        lines.append(f"{comparison}: {said} ({int(first['runs_a'])} vs {int(first['runs_b'])} runs; "
                     f"{first['interval']}).")
    return lines
