"""Statistics for comparisons: a two-level (seeds, then problems) bootstrap and the verdict rule.

**The bootstrap.** Results come from several seeds (independent training runs), each scored on the
same problems. A statistic such as "robustness of theorem-SFT minus robustness of answer-SFT" is a
function of per-problem sums: for each seed, a matrix with one row per *unit* (a test original,
together with all its perturbed versions, so perturbations of one problem are never split) and one
column per sum (correct answers of model A on originals, count, correct on perturbed, count...).
One bootstrap replicate draws seeds with replacement and, within each drawn seed, units with
replacement (as counts per unit, so a replicate is a matrix product), computes the statistic per
drawn seed and averages over seeds. The 95% interval is the 2.5 / 97.5 percentile of the
replicates; the point estimate is the statistic on all units, averaged over seeds. With one seed
the interval covers problem sampling only; `n_seeds` travels with every number so a reader sees it.
Comparisons between two models use the same units and the same seed index on both sides (paired).

**The verdict rule** (one rule for every claim, stated in the report):
* `supported`     - the interval lies entirely on the claim's side of its null value;
* `not supported` - the interval lies entirely on the other side (or inside a stated equivalence
  margin for "A matches B" claims, the other way round), or the claim's control explains it;
* `inconclusive`  - the interval contains the null value: an effect inside its CI is not called one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval, the seeds and units it rests on."""

    value: float
    low: float
    high: float
    n_seeds: int
    n_units: int

    def excludes(self, null: float) -> int:
        """+1 if the interval lies above `null`, -1 if below, 0 if it contains it (or is undefined)."""
        if not np.isfinite(self.low) or not np.isfinite(self.high):
            return 0
        return 1 if self.low > null else -1 if self.high < null else 0

    def as_dict(self) -> dict:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n_seeds": self.n_seeds,
                "n_units": self.n_units}


NAN = Estimate(float("nan"), float("nan"), float("nan"), 0, 0)


def _safe(stat: Callable[[np.ndarray], np.ndarray], sums: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(stat(sums), dtype=float)


def resample_counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """(resamples x n) counts: how often each unit is drawn in each resample of n draws with replacement."""
    draws = rng.integers(0, n, size=(resamples, n)) + (np.arange(resamples) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def cluster_bootstrap(units_by_seed: Sequence[np.ndarray], stat: Callable[[np.ndarray], np.ndarray],
                      resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> Estimate:
    """Two-level bootstrap of `stat` (a function of column sums, vectorised over rows) over seeds and units.

    `units_by_seed[s]` is a (units x k) array of per-unit sums for seed s; `stat` maps an (r x k) array of
    summed columns to r values (NaN where undefined, e.g. a ratio over an empty count)."""
    arrays = [np.asarray(a, dtype=float) for a in units_by_seed if len(a)]
    if not arrays:
        return NAN
    rng = np.random.default_rng(seed)
    points = np.array([_safe(stat, a.sum(axis=0, keepdims=True))[0] for a in arrays])
    point = float(np.mean(points[np.isfinite(points)])) if np.isfinite(points).any() else float("nan")
    n_seeds, n_units = len(arrays), min(len(a) for a in arrays)
    # Each (replicate, seed slot) gets its own resample of units, so a seed drawn twice is resampled twice.
    per_seed = np.stack([_safe(stat, resample_counts(rng, len(units), resamples * n_seeds) @ units)
                         .reshape(resamples, n_seeds) for units in arrays])      # seed x replicate x slot
    drawn = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    picked = per_seed[drawn, np.arange(resamples)[:, None], np.arange(n_seeds)[None, :]]
    with warnings.catch_warnings():  # a replicate with every drawn seed undefined is NaN, and dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        replicates = np.nanmean(picked, axis=1)
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size < resamples // 2:
        return Estimate(point, float("nan"), float("nan"), n_seeds, n_units)
    tail = (1 - level) / 2
    return Estimate(point, float(np.quantile(replicates, tail)), float(np.quantile(replicates, 1 - tail)),
                    n_seeds, n_units)


def accuracy_stat(sums: np.ndarray) -> np.ndarray:
    """Columns (correct, n) -> accuracy."""
    return sums[:, 0] / sums[:, 1]


def robustness_stat(sums: np.ndarray) -> np.ndarray:
    """Columns (correct on originals, n, correct on perturbed, n) -> perturbed accuracy / original accuracy."""
    return (sums[:, 2] / sums[:, 3]) / (sums[:, 0] / sums[:, 1])


def difference(stat: Callable[[np.ndarray], np.ndarray], k: int) -> Callable[[np.ndarray], np.ndarray]:
    """stat(model A's k columns) - stat(model B's k columns), for units holding A's columns then B's."""
    return lambda sums: stat(sums[:, :k]) - stat(sums[:, k:])


def verdict(estimate: Estimate, null: float, direction: int = 1, margin: float | None = None) -> str:
    """The one verdict rule. `direction` +1: the claim says value > null; -1: value < null.
    With `margin`, the claim is equivalence: |value - null| < margin (interval inside the margin)."""
    if not np.isfinite(estimate.low):
        return "inconclusive"
    if margin is not None:
        if null - margin < estimate.low and estimate.high < null + margin:
            return "supported"
        outside = estimate.high < null - margin or estimate.low > null + margin
        return "not supported" if outside else "inconclusive"
    side = estimate.excludes(null)
    return "supported" if side == direction else "not supported" if side == -direction else "inconclusive"
