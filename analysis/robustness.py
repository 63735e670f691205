"""Two readings of robustness beside the accuracy ratio.

* **Conditional consistency**: P(correct on a perturbed version | correct on its original), per checkpoint and
  perturbation kind. Robustness (perturbed / original accuracy) can sit near 1 while a model gets different
  problems right under the change; consistency asks whether what it solved stays solved. Counted over the
  (original, perturbed version) pairs whose original was answered correctly; arms average their seeds.
* **Effective robustness** (Taori et al. 2020): across every graded step of a run (its curve files and final
  evaluation), accuracy on surface-perturbed problems against accuracy on the originals. Two arms on one line
  have the same robustness at equal in-distribution accuracy; an arm above the other's line keeps more under
  perturbation than its in-distribution accuracy predicts. Each point is scored on the originals and the
  versions graded at that step (the curve's first originals, or every original at the final evaluation).
"""

from __future__ import annotations

import pandas as pd
from tsft.analysis.accuracy import final, surface_kinds

CONSISTENCY_COLUMNS = ["model", "target", "params", "seed", "kind", "consistency", "pairs", "original_correct"]


def consistency_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per final checkpoint x perturbation kind (and pooled `surface`): P(perturbed correct | original correct)."""
    frame = final(predictions)
    if frame.empty:
        return pd.DataFrame(columns=CONSISTENCY_COLUMNS)
    originals = frame[frame["kind"] == "original"][["model", "original_id", "correct"]]
    perturbed = frame[frame["kind"] != "original"]
    joined = perturbed.merge(originals.rename(columns={"correct": "original_ok"}), on=["model", "original_id"])
    solved = joined[joined["original_ok"].astype(bool)]
    rows = []
    surface = set(surface_kinds(frame["kind"]))
    for keys, group in [*solved.groupby(["model", "kind"]),
                        *(((model, "surface"), part) for model, part in
                          solved[solved["kind"].isin(surface)].groupby("model"))]:
        model, kind = keys
        facts = group.iloc[0]
        rows.append({"model": model, "target": facts["target"], "params": facts["params"], "seed": facts["seed"],
                     "kind": kind, "consistency": float(group["correct"].mean()), "pairs": len(group),
                     "original_correct": int(group["original_id"].nunique())})
    return pd.DataFrame(rows, columns=CONSISTENCY_COLUMNS).sort_values(["model", "kind"], ignore_index=True)


def effective_robustness_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per run x graded step: accuracy on the originals and on surface-perturbed versions (the effective-robustness
    scatter; `final` marks the final evaluation's point)."""
    columns = ["model", "target", "params", "seed", "step", "final", "original", "surface", "n_original",
               "n_surface"]
    if predictions.empty:
        return pd.DataFrame(columns=columns)
    surface = set(surface_kinds(predictions["kind"]))
    rows = []
    for (model, step, is_final), group in predictions.groupby(["model", "step", "final"]):
        originals, shifted = group[group["kind"] == "original"], group[group["kind"].isin(surface)]
        if originals.empty or shifted.empty:
            continue
        facts = group.iloc[0]
        rows.append({"model": model, "target": facts["target"], "params": facts["params"], "seed": facts["seed"],
                     "step": int(step), "final": bool(is_final), "original": float(originals["correct"].mean()),
                     "surface": float(shifted["correct"].mean()), "n_original": len(originals),
                     "n_surface": len(shifted)})
    return pd.DataFrame(rows, columns=columns)
