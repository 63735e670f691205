"""Random-location controls: each localisation claim's value beside the same measurement at random places.

A located effect only means something against what an arbitrary place of the same size would show (Hase et al.
2023 found edits at random layers work about as well as the "located" ones; Wang & Veitch 2025 the same for
fine-tuning locations). Each control gives the claim's value, the null distribution's mean and 2.5-97.5%
range over seeded draws, and a one-sided p-value, (1 + draws at or above the value) / (1 + draws):

* **C4, MLP share vs random blocks of equal size.** The MLP share sums the restored logit difference over the
  MLP blocks of every layer and divides by that of all MLP and attention blocks. The MLPs hold most of a
  layer's parameters (about three quarters in Llama-style models), so a random set of attention and MLP blocks
  with the MLPs' parameter count is the null: its share of the same restored difference (blocks from the
  patching table's `parameters` column, in random order, each taken if the total stays within the MLPs' count).
  Beside it, **random blocks of equal count**: as many blocks as there are MLP blocks, drawn from all of them,
  whatever their size (attention blocks are smaller, so a size-matched draw holds more blocks than the MLPs do;
  the count-matched one does not). C4 stands only where the share is determined above both.
* **Transplant vs random blocks.** The best layer window of A's MLPs in B against A's blocks at random layers
  with a window's parameter count (rows `random:<draw>` of the transplant table), per split.
* **E7, patching peak vs tuning importance across layers.** The Spearman correlation between the per-layer MLP
  patching effect and the per-layer tuning importance, against the same correlation with the layers permuted.
* **E7, tuning one located layer vs tuning random blocks.** The best single-layer MLP run's accuracy against runs
  that tune random attention and MLP blocks of one MLP's parameter count (`random:<draw>` selections).
* **Cross-checkpoint patching vs a random direction.** The peak site's effect against B's own activation moved by
  a random direction of the same norm (cross_table's control columns).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.inside import all_spans, e7_series, exact_rows
from tsft.models.params import fill_budget

COLUMNS = ["control", "bears_on", "subject", "value", "null_mean", "null_low", "null_high", "p_value", "draws",
           "note"]
DRAWS = 2000


def _row(control: str, bears_on: str, subject: str, value: float, null: np.ndarray, note: str = "") -> dict:
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if not len(null) or not np.isfinite(value):
        return {"control": control, "bears_on": bears_on, "subject": subject, "value": value, "null_mean": np.nan,
                "null_low": np.nan, "null_high": np.nan, "p_value": np.nan, "p_below": np.nan, "draws": len(null),
                "note": note}
    p_value = (1 + (null >= value).sum()) / (1 + len(null))
    p_below = (1 + (null <= value).sum()) / (1 + len(null))
    return {"control": control, "bears_on": bears_on, "subject": subject, "value": float(value),
            "null_mean": float(null.mean()), "null_low": float(np.quantile(null, 0.025)),
            "null_high": float(np.quantile(null, 0.975)), "p_value": float(p_value), "p_below": float(p_below),
            "draws": len(null), "note": note}


def restored_by_block(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, component) of attn_out / mlp_out: the positive restored metric summed over pairs, positions and
    models (as the MLP share sums it), and the block's parameter count."""
    rows = pairs[pairs["component"].isin(["attn_out", "mlp_out"])]
    gap = rows["clean"] - rows["corrupt"]
    rows = rows[gap.abs() > 0]
    restored = ((rows["value"] - rows["corrupt"]) * np.sign(rows["clean"] - rows["corrupt"])).clip(lower=0)
    return rows.assign(restored=restored).groupby(["layer", "component"]).agg(
        restored=("restored", "sum"), parameters=("parameters", "first")).reset_index()


def random_share(blocks: pd.DataFrame, draws: int = DRAWS, seed: int = 0, match: str = "parameters") -> np.ndarray:
    """Shares of the restored total carried by random block sets with the MLP blocks' parameter count (`match`
    "parameters") or their number (`match` "count")."""
    sizes, restored = blocks["parameters"].to_numpy(float), blocks["restored"].to_numpy(float)
    mlp = (blocks["component"] == "mlp_out").to_numpy()
    rng = np.random.default_rng(seed)
    if match == "count":
        carried = [restored[rng.choice(len(sizes), int(mlp.sum()), replace=False)].sum() for _ in range(draws)]
    else:
        carried = [restored[fill_budget(sizes, rng.permutation(len(sizes)), sizes[mlp].sum())].sum()
                   for _ in range(draws)]
    return np.asarray(carried, float) / restored.sum()


C4_NULLS = {"parameters": "random blocks of equal size", "count": "random blocks of equal count"}


def c4_control(patch_pairs: pd.DataFrame, runs: list[str], draws: int = DRAWS, seed: int = 0,
               match: str = "parameters") -> dict:
    """C4's MLP share of the given checkpoints against random attention + MLP block sets of the MLPs' size (or,
    `match` "count", of their number)."""
    subject = " + ".join(runs)
    frame = exact_rows(patch_pairs)
    frame = frame[frame["model"].isin(runs)] if len(frame) else frame
    if frame.empty or "parameters" not in frame or frame["parameters"].isna().all():
        return _row(C4_NULLS[match], "C4", subject, np.nan, np.array([]),
                    "not measured: the patching tables carry no block sizes (patched before tsft recorded them)")
    blocks = restored_by_block(frame)
    mlp = blocks["component"] == "mlp_out"
    value = blocks.loc[mlp, "restored"].sum() / blocks["restored"].sum()
    share = blocks.loc[mlp, "parameters"].sum() / blocks["parameters"].sum()
    return _row(C4_NULLS[match], "C4", subject, value, random_share(blocks, draws, seed, match),
                f"MLP share of the restored logit difference; the MLPs hold {share:.2f} of these blocks' parameters "
                f"and {int(mlp.sum())} of their {len(blocks)} blocks")


def transplant_controls(transplant: pd.DataFrame) -> list[dict]:
    """Per (A -> B, split): the best single window's accuracy against the random-location draws."""
    if transplant.empty or not transplant["layers"].str.startswith("random:").any():
        return []
    rows = []
    for (source, target, kind), part in transplant.groupby(["source", "target", "kind"], sort=False):
        located = part[part["layers"].str.fullmatch(r"\d+(-\d+)?")]
        sizes = located["blocks"].str.split().str.len()
        windows = located[sizes < sizes.max()] if sizes.nunique() > 1 else located    # not every layer at once
        alone = part.loc[part["layers"] == "none", "accuracy"].mean()
        rows += _best_against_random(windows, part[part["layers"].str.startswith("random:")],
                                     "random blocks of one window's size", "C4", f"{source}->{target} {kind}",
                                     lambda best, alone=alone, target=target: f"best window: layers {best['layers']} "
                                     f"(accuracy); {target} alone {alone:.2f}")
    return rows


def _best_against_random(located: pd.DataFrame, random: pd.DataFrame, control: str, bears_on: str, subject: str,
                         note) -> list[dict]:
    """The most accurate located row against the random rows' accuracies (no row when either is missing)."""
    if located.empty or random.empty:
        return []
    best = located.loc[located["accuracy"].idxmax()]
    return [_row(control, bears_on, subject, best["accuracy"], random["accuracy"].to_numpy(), note(best))]


def e7_controls(effects: pd.DataFrame, importance: pd.DataFrame, models: pd.DataFrame, draws: int = DRAWS,
                seed: int = 0) -> list[dict]:
    """E7's Spearman correlation (patching effect vs tuning importance over layers) against layer permutations."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, per_layer, importance_by_layer, evidence in e7_series(effects, importance, models):
        shared = per_layer.index.intersection(importance_by_layer.index)
        if len(shared) < 3:
            continue
        patch, tuning = per_layer[shared].rank().to_numpy(), importance_by_layer[shared].rank().to_numpy()
        if patch.std() == 0 or tuning.std() == 0:
            rows.append(_row("layers permuted", "C4 (E7)", key, np.nan, np.array([]), "no correlation to test: "
                             f"{'tuning importance' if tuning.std() == 0 else 'the patching effect'} is the same "
                             f"at every layer ({evidence})"))
            continue
        value = float(np.corrcoef(patch, tuning)[0, 1])
        null = np.array([np.corrcoef(patch, rng.permutation(tuning))[0, 1] for _ in range(draws)])
        rows.append(_row("layers permuted", "C4 (E7)", key, value, null, f"Spearman over {len(shared)} layers; "
                         f"importance from {evidence}"))
    return rows


def tuning_controls(accuracy: pd.DataFrame) -> list[dict]:
    """Per target: the best single-layer MLP run's accuracy on originals against runs tuning random attention / MLP
    blocks of one MLP's size (`random:<draw>`)."""
    if accuracy.empty:
        return []
    originals = accuracy[accuracy["kind"] == "original"]
    params = originals["params"].astype(str)
    rows = []
    for target, part in originals.groupby("target"):
        layer_runs = part[params[part.index].str.fullmatch(r"mlp:(\d+)-\1")]
        mean = layer_runs["accuracy"].mean()
        rows += _best_against_random(layer_runs, part[params[part.index].str.startswith("random:")],
                                     "random blocks of one MLP's size, tuned", "C4 (E7)", f"{target}-SFT",
                                     lambda best, mean=mean: f"best single layer: {best['params']} (accuracy on "
                                     f"originals); mean over layers {mean:.2f}")
    return rows


def cross_controls(cross: pd.DataFrame, cross_pairs: pd.DataFrame) -> list[dict]:
    """Per (A -> B, component): the peak site's effect against each random-direction draw at that site."""
    if cross.empty or cross_pairs.empty or "method" not in cross_pairs:
        return []
    draws = all_spans(cross_pairs[cross_pairs["method"] == "random"], extra=("draw",))
    rows = []
    for (pair, component), part in cross.groupby(["model", "component"], sort=False):
        peak = part.loc[part["effect"].idxmax()]
        at = draws[(draws["model"] == pair) & (draws["component"] == component) & (draws["layer"] == peak["layer"])
                   & (draws["position"] == peak["position"])]
        if len(at):
            rows.append(_row("random direction of equal norm", "C4", f"{pair} {component}@{int(peak['layer'])}",
                             peak["effect"], at["effect"].to_numpy(), f"position {peak['position']}"))
    return rows


def controls_table(patch_pairs: pd.DataFrame, runs: list[str], transplant: pd.DataFrame, effects: pd.DataFrame,
                   importance: pd.DataFrame, models: pd.DataFrame, cross: pd.DataFrame, cross_pairs: pd.DataFrame,
                   accuracy: pd.DataFrame) -> pd.DataFrame:
    """Every random-location control the results allow (COLUMNS)."""
    rows = [c4_control(patch_pairs, runs, match=m) for m in C4_NULLS] if runs else []
    rows += transplant_controls(transplant) + e7_controls(effects, importance, models) + tuning_controls(accuracy)
    rows += cross_controls(cross, cross_pairs)
    return pd.DataFrame(rows, columns=COLUMNS)
