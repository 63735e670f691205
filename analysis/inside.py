"""Inside the checkpoints: patching (E3), probes (E4), across checkpoints (E5), weights (E6), E7.

* **E3, where the theorem choice is carried.** From per-pair exact patching on theorem-swap pairs
  (denoising, clean = the problem, corrupt = its sibling-theorem twin): the effect of one site
  in one pair is (patched - corrupt) / (clean - corrupt) on the logit difference, 0 = the corrupt
  run, 1 = the clean run. The *layer-attribution map* is its mean over pairs per layer x component
  (TransformerLens's normalized-of-mean, at the position span where the component's effect is
  largest). The **MLP share** of a checkpoint is sum over layers and spans of the positive
  restored logit difference through `mlp_out`, divided by that of `mlp_out` plus `attn_out`,
  with a bootstrap interval over pairs (pairs where the clean and corrupt runs do not differ
  are left out; for metrics where lower is cleaner, such as KL, the sign is turned). 0.5 = MLP and
  attention carry equal parts. Reported per pair type: theorem-swap pairs (which rule) and surface
  pairs (same rule, other names: what carries the surface).
* **E4**: the layer of peak probe selectivity (accuracy - control accuracy) per checkpoint and
  component, and transfer to each perturbation kind at that layer.
* **E5**: cross-checkpoint patching (A's activation into B: 1 = B behaves as A) per layer and
  component; MLP transplant accuracy per layer window with a Wilson interval.
* **E6**: relative Frobenius weight change per block and layer from the base.
* **E7**: does the layer where MLP patching peaks predict the layer whose MLP tuning matters most?
  Tuning importance per layer comes from per-layer MLP-only runs (`mlp:L-L`: accuracy) when they
  exist, else from reverting one layer's tuned MLP to the base (transplant: accuracy lost).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.stats import Estimate, cluster_bootstrap


def exact_rows(pairs: pd.DataFrame, pair_type: str = "theorem_swap") -> pd.DataFrame:
    if pairs.empty:
        return pairs
    keep = (pairs["method"] == "exact") & (pairs["direction"] == "denoise") & (pairs["pair_type"] == pair_type)
    return pairs[keep]


def patched_runs(pairs: pd.DataFrame, models: pd.DataFrame, target: str, params: str) -> list[str]:
    """The checkpoints of one arm (target, params) that exact theorem-swap patching measured, in models order."""
    patched = set(exact_rows(pairs)["model"]) if not pairs.empty else set()
    if models.empty:
        return []
    arm = models[(models["target"] == target) & (models["params"] == params)]["model"]
    return [m for m in arm if m in patched]


def patch_map(pairs: pd.DataFrame, pair_type: str = "theorem_swap") -> pd.DataFrame:
    """Per (model, layer, component): the effect (normalized of mean over pairs) at the span where it is largest,
    and that span."""
    frame = exact_rows(pairs, pair_type)
    if frame.empty:
        return pd.DataFrame(columns=["model", "layer", "component", "position", "effect", "n_pairs"])
    counts = frame.groupby(SPAN_KEYS)["pair_id"].nunique().rename("n_pairs")
    grouped = all_spans(frame).merge(counts.reset_index(), on=SPAN_KEYS)
    best = grouped.loc[grouped.groupby(["model", "layer", "component"])["effect"].idxmax()]
    return best[["model", "layer", "component", "position", "effect", "n_pairs"]].reset_index(drop=True)


SPAN_KEYS = ["model", "layer", "component", "position"]


def all_spans(pairs: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The effect (normalized of mean over pairs) per (model, layer, component, position, *extra)."""
    grouped = pairs.groupby([*SPAN_KEYS, *extra]).agg(
        value=("value", "mean"), clean=("clean", "mean"), corrupt=("corrupt", "mean"))
    grouped["effect"] = (grouped["value"] - grouped["corrupt"]) / (grouped["clean"] - grouped["corrupt"])
    return grouped.reset_index()


def share_frame(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per pair (index: pair_id): restored logit difference summed over layers and spans through mlp_out and
    attn_out (the two columns)."""
    gap = pairs["clean"] - pairs["corrupt"]
    pairs = pairs[gap.abs() > 0]
    restored = ((pairs["value"] - pairs["corrupt"]) * np.sign(gap[gap.abs() > 0])).clip(lower=0)
    sums = pairs.assign(restored=restored).pivot_table(index="pair_id", columns="component", values="restored",
                                                       aggfunc="sum", fill_value=0.0)
    if sums.empty or "mlp_out" not in sums or "attn_out" not in sums:
        return pd.DataFrame(columns=["mlp_out", "attn_out"])
    return sums[["mlp_out", "attn_out"]]


def share_units(pairs: pd.DataFrame) -> np.ndarray:
    """share_frame's values: (pairs x [mlp_out, attn_out])."""
    return share_frame(pairs).to_numpy(dtype=float).reshape(-1, 2)


def share_stat(sums: np.ndarray) -> np.ndarray:
    return sums[:, 0] / (sums[:, 0] + sums[:, 1])


def mlp_share(pairs: pd.DataFrame, models: list[str], pair_type: str = "theorem_swap") -> Estimate:
    """The MLP share over the given models (seeds of one checkpoint kind), bootstrapped over seeds and pairs."""
    frame = exact_rows(pairs, pair_type)
    return cluster_bootstrap([share_units(frame[frame["model"] == m]) for m in models], share_stat)


def patch_table(pairs: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """E3: per model and pair type, the MLP share with its interval and the layer where each component peaks."""
    if pairs.empty:
        return pd.DataFrame()
    rows = []
    for pair_type in sorted(set(pairs["pair_type"].dropna())):
        effects = patch_map(pairs, pair_type)
        for model in sorted(set(effects["model"])):
            share = mlp_share(pairs, [model], pair_type)
            if not np.isfinite(share.value):
                continue
            mine = effects[effects["model"] == model]
            peaks = {f"peak_layer_{c}": int(g.loc[g["effect"].idxmax(), "layer"])
                     for c, g in mine.groupby("component")}
            rows.append({"model": model, "pair_type": pair_type, "mlp_share": share.value, "ci_low": share.low,
                         "ci_high": share.high, "n_pairs": share.n_units, **peaks})
    table = pd.DataFrame(rows)
    return table.merge(models[["model", "target", "params", "seed"]], on="model", how="left") if len(table) else table


def probe_peaks(probes: pd.DataFrame, label: str = "theorem", position: str = "last") -> pd.DataFrame:
    """E4: per (model, component), the layer of peak selectivity with accuracy and control there."""
    if probes.empty:
        return pd.DataFrame()
    in_distribution = probes["kind"].isna() | probes["kind"].isin(["", "original"])
    frame = probes[(probes["label"] == label) & (probes["position"] == position) & in_distribution]
    rows = []
    for (model, component), group in frame.groupby(["model", "component"]):
        sel = group[group["metric"] == "selectivity"]
        if sel.empty:
            continue
        peak = sel.loc[sel["value"].idxmax()]
        at = group[group["layer"] == peak["layer"]].set_index("metric")["value"]
        rows.append({"model": model, "component": component, "label": label, "peak_layer": int(peak["layer"]),
                     "selectivity": float(peak["value"]), "ci_low": float(peak["ci_low"]),
                     "ci_high": float(peak["ci_high"]), "accuracy": float(at.get("accuracy", np.nan)),
                     "control_accuracy": float(at.get("control_accuracy", np.nan)),
                     "majority": float(at.get("majority", np.nan))})
    return pd.DataFrame(rows)


def probe_transfer(probes: pd.DataFrame, peaks: pd.DataFrame, label: str = "theorem", position: str = "last"
                   ) -> pd.DataFrame:
    """E4: transfer accuracy per perturbation kind at each model's peak layer (and the in-distribution accuracy),
    at the position the peaks were found (`probe_peaks`' default)."""
    if probes.empty or peaks.empty:
        return pd.DataFrame()
    frame = probes[(probes["label"] == label) & (probes["metric"].isin(["transfer", "accuracy"]))
                   & (probes["position"] == position)]
    frame = frame.merge(peaks[["model", "component", "peak_layer"]], on=["model", "component"])
    frame = frame[frame["layer"] == frame["peak_layer"]]
    frame = frame.assign(kind=frame["kind"].where(frame["metric"] == "transfer", "original"))
    return frame[["model", "component", "layer", "kind", "value", "ci_low", "ci_high", "n"]].reset_index(drop=True)


def cross_table(cross_pairs: pd.DataFrame) -> pd.DataFrame:
    """E5: cross-checkpoint patching effect per (A->B, layer, component), at the span where it is largest; with the
    random-direction control (method `random`), its effect per draw at that span summarised as the mean and the
    largest over draws (`control_mean`, `control_max`): the claim's value against its control distribution."""
    if cross_pairs.empty:
        return pd.DataFrame()
    method = cross_pairs["method"] if "method" in cross_pairs else pd.Series("cross", index=cross_pairs.index)
    frame = cross_pairs[method != "random"].assign(pair_type="same_prompt", method="exact")
    table = patch_map(frame, "same_prompt")
    control = cross_pairs[method == "random"]
    if control.empty:
        return table
    per_draw = all_spans(control, extra=("draw",))
    stats = per_draw.groupby(SPAN_KEYS)["effect"].agg(control_mean="mean", control_max="max").reset_index()
    return table.merge(stats, on=SPAN_KEYS, how="left")


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def transplant_table(transplant: pd.DataFrame) -> pd.DataFrame:
    """E5: transplant accuracy with Wilson intervals (layers: none = B alone, source = A alone)."""
    if transplant.empty:
        return pd.DataFrame()
    intervals = [wilson(a * n, int(n)) for a, n in zip(transplant["accuracy"], transplant["n"], strict=True)]
    return transplant.assign(ci_low=[i[0] for i in intervals], ci_high=[i[1] for i in intervals])


def weight_table(weights: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """E6: relative weight change per (model, layer, block) from the base."""
    if weights.empty:
        return pd.DataFrame()
    blocks = weights[weights["parameter"] == "*"].drop(columns=["parameter"])
    return blocks.merge(models[["model", "target", "params", "seed"]], on="model", how="left")


def _single_layer(params: str) -> int | None:
    if isinstance(params, str) and params.startswith("mlp:"):
        first, _, last = params[4:].partition("-")
        if first == last:
            return int(first)
    return None


def tuning_importance(transplant: pd.DataFrame, accuracy: pd.DataFrame, base: str | None) -> pd.DataFrame:
    """Per (target, layer): how much that layer's MLP tuning matters. From per-layer runs (accuracy on originals of
    `mlp:L-L` runs) when present, else from reverting layer L of an MLP-only run to the base (accuracy lost)."""
    rows = []
    if not accuracy.empty:
        originals = accuracy[accuracy["kind"] == "original"]
        for _, row in originals.iterrows():
            layer = _single_layer(row["params"])
            if layer is not None:
                rows.append({"target": row["target"], "layer": layer, "importance": row["accuracy"],
                             "evidence": "per-layer MLP runs (accuracy)"})
    if rows or transplant.empty or base is None:
        return pd.DataFrame(rows)
    revert = transplant[(transplant["source"] == base) & (transplant["kind"] == "original")]
    for tuned, group in revert.groupby("target"):
        own = group[group["layers"] == "none"]["accuracy"].mean()
        for _, row in group[group["layers"].str.fullmatch(r"\d+")].iterrows():
            rows.append({"target": tuned, "layer": int(row["layers"]), "importance": own - row["accuracy"],
                         "evidence": f"revert one layer of {tuned} to the base (accuracy lost)"})
    return pd.DataFrame(rows)


def e7_series(effects: pd.DataFrame, importance: pd.DataFrame, models: pd.DataFrame):
    """Per target (or MLP-only checkpoint): (key, MLP patching effect per layer, tuning importance per layer,
    where the importance comes from)."""
    if effects.empty or importance.empty:
        return
    mlp = effects[effects["component"] == "mlp_out"].merge(models[["model", "target", "params"]], on="model")
    for key, imp in importance.groupby("target"):
        target = models.loc[models["model"] == key, "target"]
        target = target.iloc[0] if len(target) else key
        patch = mlp[(mlp["model"] == key)] if (mlp["model"] == key).any() else \
            mlp[(mlp["target"] == target) & (mlp["params"] == "mlp")]
        if not patch.empty:
            yield key, patch.groupby("layer")["effect"].mean(), imp.groupby("layer")["importance"].mean(), \
                imp["evidence"].iloc[0]


def e7_table(effects: pd.DataFrame, importance: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """E7: per target (or MLP-only checkpoint), the MLP patching peak layer vs the tuning-importance peak layer,
    and their Spearman correlation over layers."""
    rows = []
    for key, per_layer, imp_layer, evidence in e7_series(effects, importance, models):
        target = models.loc[models["model"] == key, "target"]
        shared = per_layer.index.intersection(imp_layer.index)
        rho = float(pd.Series(per_layer[shared]).rank().corr(pd.Series(imp_layer[shared]).rank())) \
            if len(shared) > 2 else float("nan")
        rows.append({"checkpoint": key, "target": target.iloc[0] if len(target) else key,
                     "patch_peak_layer": int(per_layer.idxmax()), "tuning_peak_layer": int(imp_layer.idxmax()),
                     "agree": int(per_layer.idxmax()) == int(imp_layer.idxmax()), "spearman": rho,
                     "n_layers": len(shared), "evidence": evidence})
    return pd.DataFrame(rows)


def spectral_table(spectral: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Per (model, block): the mean over layers and matrices of the update's relative size, its share that rescales
    the base's singular directions, its effective rank and its top-k share (patching.spectral)."""
    if spectral.empty:
        return pd.DataFrame()
    moved = spectral[spectral["change"] > 0]
    table = moved.groupby(["model", "block"])[["change", "scale_share", "effective_rank", "top_share"]].mean()
    return table.reset_index().merge(models[["model", "target", "params", "seed"]], on="model", how="left")


def overlap_table(overlap: pd.DataFrame) -> pd.DataFrame:
    """Per (a, b, layer, block): the mean overlap of the two updates' top-k subspaces and its chance level."""
    if overlap.empty:
        return pd.DataFrame()
    moved = overlap.dropna(subset=["overlap"])  # matrices one of the two runs did not tune
    return moved.groupby(["a", "b", "layer", "block"])[["overlap", "chance"]].mean().reset_index()

