"""The checkpoint that generalizes best is not always the last one: C1 and C2 read at final, matched and OOD-peak.

Out-of-distribution accuracy can peak early in SFT while in-distribution accuracy keeps rising, so "theorem-SFT is
more robust than answer-SFT" may hold at one checkpoint and not at another. The reproduce pipeline evaluates every
kept intermediate checkpoint of the full-tuning runs (`eval-curve/`, beside `eval-matched/`), and this module
reads them:

* `peak_table` - per run: the evaluated steps, the step of peak accuracy on the originals (in-distribution), the
  step of peak accuracy on surface-perturbed problems (OOD), and the final step, with the accuracy at each, all on
  the originals every graded step of the run shares (the training curves' first test originals);
* `claim_readings` - C1 and C2 computed three ways: at the **final** checkpoints, at the **matched** checkpoints
  (equal held-out accuracy across targets, analysis.accuracy.matched_steps) and at each run's **OOD-peak**
  checkpoint.

The OOD-peak reading chooses each checkpoint by its accuracy on the very problems it is then scored on, so it is
optimistic by construction: it says how a run reads at its best moment, not what an unseen set would show. The
report says so beside it. Ties go to the earlier step.
"""

from __future__ import annotations

import pandas as pd
from tsft.analysis.accuracy import surface_kinds
from tsft.analysis.claims import ClaimSettings, claim_c1, claim_c2

READINGS = ("final", "matched", "ood_peak")
PEAK_COLUMNS = ["model", "target", "params", "seed", "steps", "final_step", "id_peak_step", "ood_peak_step",
                "final_original", "final_surface", "id_peak_original", "ood_peak_surface"]


def step_accuracy(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per (model, step): accuracy on originals and on pooled surface-perturbed problems."""
    surface = surface_kinds(predictions["kind"])
    group = pd.Series("other", index=predictions.index)
    group[predictions["kind"] == "original"] = "original"
    group[predictions["kind"].isin(surface)] = "surface"
    table = (predictions.assign(group=group).query("group != 'other'")
             .groupby(["model", "target", "params", "seed", "step", "group"])["correct"].mean().unstack("group"))
    return table.reset_index()


def _peak(curve: pd.DataFrame, column: str) -> pd.Series:
    """The row of the curve (sorted by step) where `column` peaks, the earliest on ties."""
    return curve.loc[curve[column].idxmax()] if curve[column].notna().any() else curve.iloc[-1]


def shared_originals(predictions: pd.DataFrame) -> pd.DataFrame:
    """Each run's rows on the originals that every one of its graded steps scored: the curve files score a run's
    first test originals, its final evaluation all of them, and a peak is only a peak on the same problems."""
    kept = []
    for _, rows in predictions.groupby("model", sort=False):
        sets = [set(ids) for _, ids in rows.groupby("step")["original_id"]]
        kept.append(rows[rows["original_id"].isin(set.intersection(*sets))])
    return pd.concat(kept) if kept else predictions


def peak_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per run with more than the final evaluation: steps evaluated, peak steps and accuracies (PEAK_COLUMNS), every
    step scored on the originals all of them share (`shared_originals`)."""
    if predictions.empty:
        return pd.DataFrame(columns=PEAK_COLUMNS)
    finals = predictions[predictions["final"].astype(bool)].groupby("model")["step"].max()
    table = step_accuracy(shared_originals(predictions))
    if "surface" not in table or "original" not in table:
        return pd.DataFrame(columns=PEAK_COLUMNS)
    rows = []
    for (model, target, params, seed), curve in table.groupby(["model", "target", "params", "seed"]):
        if len(curve) < 2 or model not in finals:
            continue
        curve = curve.sort_values("step").reset_index(drop=True)
        last = curve[curve["step"] == finals[model]].iloc[0]
        in_peak, out_peak = _peak(curve, "original"), _peak(curve, "surface")
        rows.append({"model": model, "target": target, "params": params, "seed": seed,
                     "steps": ",".join(str(int(s)) for s in curve["step"]), "final_step": int(last["step"]),
                     "id_peak_step": int(in_peak["step"]), "ood_peak_step": int(out_peak["step"]),
                     "final_original": last["original"], "final_surface": last["surface"],
                     "id_peak_original": in_peak["original"], "ood_peak_surface": out_peak["surface"]})
    return pd.DataFrame(rows, columns=PEAK_COLUMNS)


def reading_predictions(predictions: pd.DataFrame, matched: pd.DataFrame, peaks: pd.DataFrame,
                        reading: str) -> pd.DataFrame:
    """The predictions a reading scores, marked final=True (runs without the reading's checkpoint drop out)."""
    if reading == "final":
        return predictions[predictions["final"].astype(bool)]
    picks = (matched[["model", "step"]] if reading == "matched" else
             peaks[["model", "ood_peak_step"]].rename(columns={"ood_peak_step": "step"}))
    if picks.empty:
        return predictions.iloc[0:0]
    return predictions.merge(picks.drop_duplicates(), on=["model", "step"], how="inner").assign(final=True)


def claim_readings(predictions: pd.DataFrame, matched: pd.DataFrame, peaks: pd.DataFrame,
                   settings: ClaimSettings) -> pd.DataFrame:
    """C1 and C2 at each reading (one row per claim x reading, the claims table's columns plus `reading`)."""
    if predictions.empty:
        return pd.DataFrame()
    rows, none = [], matched.iloc[0:0]
    for reading in READINGS:
        picks = reading_predictions(predictions, matched, peaks, reading)
        for row in (claim_c1(picks, none, settings), claim_c2(picks, settings)):
            scope = {"final": "final checkpoints", "matched": "checkpoints matched on held-out accuracy",
                     "ood_peak": "each run at its peak surface accuracy (optimistic: chosen on these problems)"}
            note = "" if str(row["note"]).startswith("not matched: no training curves") else row["note"]
            rows.append({"reading": reading, **row, "scope": scope[reading], "note": note})
    return pd.DataFrame(rows)
