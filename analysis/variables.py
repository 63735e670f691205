"""Where the theorem is a variable (DAS), and which block type's updates carry the gains (delta inference).

**DAS** (`tsft patch das`, patching.das_run): held-out IIA per site (`das`), per checkpoint the first site in
forward order whose learned k-dimensional subspace reaches held-out interchange accuracy 0.8 (`das_first`),
beside the full-vector patch's first site, and per (checkpoint, position, method, k, split) the best site
(`das_best`): its IIA, where it is, and for the learned subspace the IIA of its used-space component alone (the
illusion check: `illusion` marks a best site whose IIA falls by more than 0.2 without the directions the
activations never vary along).

**Delta inference** (`tsft patch deltas`, patching.deltas): per arm, variant (base, attn, mlp, blocks, all) and
kind, the accuracy pooled over seeds with a two-level bootstrap interval (seeds, then test originals with all
their perturbed versions: analysis.stats), and robustness on the pooled surface kinds; `delta_contrast` gives
attention-only minus the whole checkpoint, paired by seed and original: TAIA's claim is that it is positive
under shift.
"""

from __future__ import annotations

import pandas as pd
from tsft.analysis.accuracy import ACCURACY, FACTS, ROBUSTNESS, SURFACE, arm_runs, estimate, paired_estimate
from tsft.analysis.claims import ClaimSettings
from tsft.patching.das_run import ILLUSION_DROP, first_layers

LEARNED = ClaimSettings().learned
"""Accuracy on the originals a variant must be determined above before its robustness is read."""


def das_sites(das: pd.DataFrame) -> pd.DataFrame:
    """Held-out IIA per checkpoint, site, position, method and k, over pairings pooled (F19's points)."""
    if das.empty:
        return pd.DataFrame()
    keep = das[(das["pairing"] == "all") & (das["split"] != "train") & (das["method"] != "das_used")]
    return keep.drop(columns=["pairing"]).reset_index(drop=True)


def das_first(das: pd.DataFrame) -> pd.DataFrame:
    """The first site with held-out-pairs IIA >= THRESHOLD, per checkpoint, k, position and method."""
    return first_layers(das) if len(das) else pd.DataFrame()


def das_best(das: pd.DataFrame) -> pd.DataFrame:
    """Per (model, position, method, k, split), over pairings pooled: the best site, its IIA and n, and for the
    learned subspace its used-space IIA and whether it drops by more than ILLUSION_DROP (an illusion)."""
    if das.empty:
        return pd.DataFrame()
    pooled = das[das["pairing"] == "all"]
    keys = ["model", "position", "k", "layer", "component", "split"]
    used = pooled[pooled["method"] == "das_used"].set_index(keys)["iia"].rename("used_iia")
    rows = []
    for (model, position, method, k, split), group in pooled[pooled["method"] != "das_used"].groupby(
            ["model", "position", "method", "k", "split"], sort=True):
        top = group.sort_values(["iia", "layer"], ascending=[False, True]).iloc[0]
        row = {"model": model, "position": position, "method": method, "k": k, "split": split,
               "layer": int(top["layer"]), "component": top["component"], "iia": float(top["iia"]),
               "n": int(top["n"]), "outside": float(top["outside"])}
        if method == "das":
            value = used.get((model, position, k, top["layer"], top["component"], split), float("nan"))
            row |= {"used_iia": float(value), "illusion": bool(row["iia"] - value > ILLUSION_DROP)}
        rows.append(row)
    return pd.DataFrame(rows)


def _delta_frame(deltas: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    facts = arm_runs(models)[["model", *FACTS]].drop_duplicates("model")
    return deltas.merge(facts, on="model", how="inner")


def delta_table(deltas: pd.DataFrame, models: pd.DataFrame, learned: float = LEARNED) -> pd.DataFrame:
    """Accuracy per (target, params, variant, kind) and robustness on the pooled surface kinds, seeds pooled;
    `learned`: whether the variant's accuracy on the originals is determined above `learned` (robustness is read
    only where it is, as the claims read it)."""
    if deltas.empty:
        return pd.DataFrame()
    frame, rows = _delta_frame(deltas, models), []
    for (target, params, variant), group in frame.groupby(["target", "params", "variant"], sort=True):
        seeds = int(group["seed"].nunique())
        knows = bool(estimate(group, "original", ACCURACY).low > learned)
        for kind in ["original", *sorted(k for k in group["kind"].unique() if k != "original"), SURFACE]:
            stat = ACCURACY if kind != SURFACE else ROBUSTNESS
            est = estimate(group, kind, stat)
            rows.append({"target": target, "params": params, "variant": variant, "kind": kind,
                         "measure": "robustness" if kind == SURFACE else "accuracy", "value": est.value,
                         "low": est.low, "high": est.high, "seeds": seeds, "learned": knows})
    return pd.DataFrame(rows)


def delta_contrast(deltas: pd.DataFrame, models: pd.DataFrame, a: str = "attn", b: str = "all",
                   learned: float = LEARNED) -> pd.DataFrame:
    """Variant `a` minus variant `b` per arm on the originals' accuracy and the surface robustness, paired by
    seed and original; `learned`: whether both are determined above `learned` on the originals (the robustness
    contrast is read only then)."""
    if deltas.empty:
        return pd.DataFrame()
    frame, rows = _delta_frame(deltas, models), []
    for (target, params), group in frame.groupby(["target", "params"], sort=True):
        one, two = group[group["variant"] == a], group[group["variant"] == b]
        if one.empty or two.empty:
            continue
        knows = all(estimate(part, "original", ACCURACY).low > learned for part in (one, two))
        for kind, stat in (("original", ACCURACY), (SURFACE, ROBUSTNESS)):
            est = paired_estimate(one, two, kind, stat)
            rows.append({"target": target, "params": params, "contrast": f"{a} - {b}", "kind": kind,
                         "value": est.value, "low": est.low, "high": est.high,
                         "seeds": int(group["seed"].nunique()), "learned": knows})
    return pd.DataFrame(rows)
