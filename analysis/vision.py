"""The diagram world's question: where do theorem-SFT and answer-SFT read the figure's given?

Inputs are position-group patching results (patching.groups: one row per given_swap pair x layer
x component x group, normalized 0 = swapped figure, 1 = original figure) and probes for the
`figure_value` label.

* `figure_gaps` - per model, the mean clean - corrupt logit difference: how much the figure moves
  the token read at all. When its interval contains 0 the model does not use the figure there,
  and its restoration map is noise over a vanishing denominator.
* `group_map` - per (model, layer, component, group): the restoration as a normalized of means
  over pairs, (sum patched - sum corrupt) / (sum clean - sum corrupt), with a 95% percentile
  bootstrap interval over pairs (2000 resamples, seeded). A mean of per-pair ratios would let pairs
  whose figure barely matters (a gap near 0) dominate with huge values.
* `reading_difference` - theorem-SFT minus answer-SFT (full tuning, first seed), per (layer,
  component, group), paired on the pairs both read, with a bootstrap interval of the paired mean.
  An interval that excludes 0 says the two read the figure differently at that site and group;
  one that contains 0 says this run cannot tell them apart there.
* `figure_probe_peaks` - per (model, position), the layer where a probe for the figure-only value
  is most selective (probes on resid_post).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.inside import probe_peaks

KEYS = ["model", "layer", "component", "group"]
PAIR_KEYS = ["pair_id", "layer", "component", "group"]
RESAMPLES = 2000


def _indices(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))


def _ratio(patched: np.ndarray, clean: np.ndarray, corrupt: np.ndarray, idx=None) -> np.ndarray:
    """Normalized of means: (sum patched - sum corrupt) / (sum clean - sum corrupt), per resample row."""
    if idx is None:
        gap, moved = clean.sum() - corrupt.sum(), patched.sum() - corrupt.sum()
    else:
        gap, moved = clean[idx].sum(1) - corrupt[idx].sum(1), patched[idx].sum(1) - corrupt[idx].sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(gap) > 1e-9, moved / gap, np.nan)


def _interval(draws: np.ndarray) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return float("nan"), float("nan")
    return float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


def _arrays(part: pd.DataFrame, suffix: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(part[f"{name}{suffix}"].to_numpy(float) for name in ("value", "clean", "corrupt"))


def figure_gaps(groups: pd.DataFrame) -> pd.DataFrame:
    """Per model: mean clean - corrupt logit difference over pairs (does the figure move the read token at all?)."""
    if groups.empty:
        return pd.DataFrame(columns=["model", "gap", "ci_low", "ci_high", "n"])
    rows = []
    for model, part in groups.drop_duplicates(["model", "pair_id"]).groupby("model", sort=False):
        gap = (part["clean"] - part["corrupt"]).to_numpy(float)
        low, high = _interval(gap[_indices(len(gap))].mean(1))
        rows.append({"model": model, "gap": float(gap.mean()), "ci_low": low, "ci_high": high, "n": len(gap)})
    return pd.DataFrame(rows)


def group_map(groups: pd.DataFrame) -> pd.DataFrame:
    """Restoration per model, layer, component and position group: the normalized of means over pairs, with a
    percentile bootstrap interval over pairs (numerator and denominator resampled together)."""
    if groups.empty:
        return pd.DataFrame(columns=[*KEYS, "effect", "ci_low", "ci_high", "n"])
    rows = []
    for key, part in groups.groupby(KEYS, sort=False):
        arrays = _arrays(part)
        low, high = _interval(_ratio(*arrays, _indices(len(part))))
        rows.append({**dict(zip(KEYS, key, strict=True)), "effect": float(_ratio(*arrays)), "ci_low": low,
                     "ci_high": high, "n": len(part)})
    return pd.DataFrame(rows)


def _first_full(models: pd.DataFrame, target: str) -> str | None:
    rows = models[(models["target"] == target) & (models["params"] == "full")]
    return None if rows.empty else str(rows.sort_values("seed")["model"].iloc[0])


def reading_difference(groups: pd.DataFrame, models: pd.DataFrame, a: str = "theorem", b: str = "answer"
                       ) -> pd.DataFrame:
    """a-SFT minus b-SFT restoration (full tuning, first seed) per layer, component and group, on the pairs both
    read, with a paired bootstrap (the same pairs resampled for both); each side's figure gap is kept."""
    columns = ["layer", "component", "group", "a", "b", a, b, "difference", "ci_low", "ci_high", "n"]
    first_a, first_b = _first_full(models, a), _first_full(models, b)
    if groups.empty or first_a is None or first_b is None:
        return pd.DataFrame(columns=columns)
    left = groups[groups["model"] == first_a].set_index(PAIR_KEYS)[["value", "clean", "corrupt"]]
    right = groups[groups["model"] == first_b].set_index(PAIR_KEYS)[["value", "clean", "corrupt"]]
    joined = left.join(right, how="inner", lsuffix="_a", rsuffix="_b").reset_index()
    rows = []
    for (layer, component, group), part in joined.groupby(["layer", "component", "group"], sort=False):
        xa, xb = _arrays(part, "_a"), _arrays(part, "_b")
        idx = _indices(len(part))
        low, high = _interval(_ratio(*xa, idx) - _ratio(*xb, idx))
        ra, rb = float(_ratio(*xa)), float(_ratio(*xb))
        rows.append({"layer": int(layer), "component": component, "group": group, "a": first_a, "b": first_b,
                     a: ra, b: rb, "difference": ra - rb, "ci_low": low, "ci_high": high, "n": len(part)})
    return pd.DataFrame(rows, columns=columns)


def figure_probe_peaks(probes: pd.DataFrame) -> pd.DataFrame:
    """Peak-selectivity layer of the figure_value probe per model and position (resid_post)."""
    if probes.empty or "figure_value" not in set(probes["label"]):
        return pd.DataFrame()
    frames = []
    for position in ("image", "problem", "last"):
        peaks = probe_peaks(probes[probes["component"] == "resid_post"], "figure_value", position)
        frames.append(peaks.assign(position=position) if len(peaks) else peaks)
    return pd.concat(frames, ignore_index=True)
