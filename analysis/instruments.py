"""How far the instruments can be trusted: estimates against exact patching, ablation choice, erasure, restores.

* **Estimates** (`estimate_table`): every sweep that ran exact patching beside attribution patching or AtP*
  recorded, in its request.json, the estimate's Pearson correlation with exact patching, the false negatives among
  exact's top-k sites, the rank in the estimate's order by which all of them are found, and the passes it took.
* **Ablations** (`ablation_table`): zero, mean and resample ablation of each site in the clean run (direction
  `noise`, normalized 1 = the clean run untouched, 0 = the corrupt run); a site's *damage* is 1 - its effect at
  the span where the damage is largest. `ablation_agreement` is the Spearman correlation of the site damages
  between two modes: low agreement means a circuit found with one ablation would not be found with the other
  (Miller et al. 2024).
* **Erasure** (`erasure_table`): the probes.causal table averaged over draws per (model, site, condition): probe
  accuracy on the erased activations beside the majority rate, the edit's mean squared size, and the model's
  behaviour with the edit in its forward pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.inside import all_spans

ESTIMATES = ("attribution", "atp_star")
ABLATIONS = ("zero", "mean", "resample")


def estimate_table(requests: list[dict]) -> pd.DataFrame:
    """One row per (sweep, estimate) with its agreement with exact patching and its passes."""
    rows = []
    for request in requests:
        for estimate in ESTIMATES:
            report = request.get(f"{estimate}_vs_exact")
            if not report:
                continue
            passes = request.get("passes", {}).get(estimate, {})
            rows.append({"model": request.get("model_name") or str(request.get("model", "")).rstrip("/").split("/")[-1],
                         "pair_type": request.get("pair_type"), "estimate": estimate, "pairs": request.get("pairs"),
                         **{k: v for k, v in report.items() if k != "missed"},
                         "missed": ", ".join(report.get("missed", [])),
                         **{f"passes_{k}": v for k, v in passes.items()}})
    return pd.DataFrame(rows)


def ablation_table(patch_pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (model, mode, layer, component): the damage of ablating the site (1 - effect, at the span where it is
    largest)."""
    if patch_pairs.empty or not patch_pairs["method"].isin(ABLATIONS).any():
        return pd.DataFrame(columns=["model", "mode", "layer", "component", "position", "damage"])
    rows = []
    for mode in ABLATIONS:
        part = patch_pairs[patch_pairs["method"] == mode]
        if part.empty:
            continue
        spans = all_spans(part).assign(mode=mode, damage=lambda f: 1 - f["effect"])
        best = spans.loc[spans.groupby(["model", "layer", "component"])["damage"].idxmax()]
        rows.append(best[["model", "mode", "layer", "component", "position", "damage"]])
    return pd.concat(rows, ignore_index=True)


def ablation_agreement(ablations: pd.DataFrame) -> pd.DataFrame:
    """Per model and pair of modes: the Spearman correlation of site damages, and whether their most damaging
    site is the same."""
    rows = []
    for model, part in ablations.groupby("model"):
        wide = part.pivot_table(index=["layer", "component"], columns="mode", values="damage")
        modes = [m for m in ABLATIONS if m in wide]
        for i, a in enumerate(modes):
            for b in modes[i + 1:]:
                rows.append({"model": model, "a": a, "b": b,
                             "spearman": float(wide[a].rank().corr(wide[b].rank())),
                             "same_top_site": wide[a].idxmax() == wide[b].idxmax(),
                             "top_a": "blocks.{}.{}".format(*wide[a].idxmax()),
                             "top_b": "blocks.{}.{}".format(*wide[b].idxmax())})
    return pd.DataFrame(rows)


def erasure_table(causal: pd.DataFrame) -> pd.DataFrame:
    """Per (model, site, label, condition): each metric averaged over draws (random subspaces: several)."""
    if causal.empty:
        return pd.DataFrame()
    table = causal.groupby(["model", "site", "label", "condition", "rank", "metric"])["value"].mean() \
        .unstack("metric").reset_index()
    table.columns.name = None
    draws = causal.groupby(["model", "site", "label", "condition"])["draw"].nunique().rename("draws").reset_index()
    return table.merge(draws, on=["model", "site", "label", "condition"]).replace({np.inf: np.nan})
