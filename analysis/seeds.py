"""An interval for a difference between two arms that holds its 95% with few seeds.

With 3-5 training runs per arm, a bootstrap over seeds undercovers (it resamples a handful of values and never
sees how far a sixth seed could fall). This interval treats each run as one draw of its arm and the test problems
as one draw of their population, and adds the two sources of spread:

* **seeds** - each run's statistic m_r (robustness, or accuracy on some kinds) on all units; the arm means'
  difference D = mean(m_A) - mean(m_B) has seed variance s_A^2 / n_A + s_B^2 / n_B (runs of two arms are
  independent draws, so they are not paired, and the arms may have different numbers of seeds);
* **problems** - the same units (a test original with all its perturbed versions) are shared by every run, so
  their sampling moves every m_r together: a bootstrap over *templates* (clusters of units written from one
  wording, whose errors are correlated) recomputes D with every run on the same resampled units; its variance
  is the problem part.

D +- t(df) * sqrt(seed part + problem part), df by Welch-Satterthwaite on the seed part (the problem part has
many clusters). Each arm needs at least two runs, else the interval is undefined (NaN: inconclusive).
tests/analysis/test_seeds.py holds its coverage on simulated data with planted seed, template and question
variance (>= 90% of planted datasets covered at 3 seeds per arm).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tsft.analysis.stats import LEVEL, NAN, Estimate

CLUSTER_RESAMPLES = 1000


def _per_run(units_by_run: Sequence[np.ndarray], stat: Callable[[np.ndarray], np.ndarray],
             weights: np.ndarray | None = None) -> np.ndarray:
    """stat of each run's (weighted) column sums."""
    sums = np.stack([u.sum(axis=0) if weights is None else weights @ u for u in units_by_run])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(stat(sums), dtype=float)


def seed_interval(units_a: Sequence[np.ndarray], units_b: Sequence[np.ndarray], clusters: np.ndarray,
                  stat: Callable[[np.ndarray], np.ndarray], resamples: int = CLUSTER_RESAMPLES, seed: int = 0,
                  level: float = LEVEL, fixed_b: bool = False) -> Estimate:
    """The difference in `stat` between arms A and B with its seed + problem interval (see the module doc).

    `units_a[r]` is run r of A's (units x k) array of per-unit sums (the same units, in the same order, for every
    run of both arms); `clusters` gives each unit's template; `stat` maps (rows x k) column sums to values.
    `fixed_b`: B is one model that no seed redraws (the pretrained base), so it adds no seed variance and one run
    of it is enough."""
    from scipy import stats as scipy_stats

    a = [np.asarray(x, dtype=float) for x in units_a]
    b = [np.asarray(x, dtype=float) for x in units_b]
    if not a or not b:
        return NAN
    m_a, m_b = _per_run(a, stat), _per_run(b, stat)
    m_a, m_b = m_a[np.isfinite(m_a)], m_b[np.isfinite(m_b)]
    n_units = len(a[0])
    value = float(m_a.mean() - m_b.mean()) if len(m_a) and len(m_b) else float("nan")
    if len(m_a) < 2 or len(m_b) < (1 if fixed_b else 2):
        return Estimate(value, float("nan"), float("nan"), min(len(m_a), len(m_b)), n_units)
    part_a = m_a.var(ddof=1) / len(m_a)
    part_b = 0.0 if fixed_b else m_b.var(ddof=1) / len(m_b)
    problems = _cluster_variance(a, b, np.asarray(clusters), stat, resamples, seed)
    total = part_a + part_b + problems
    if total == 0:
        return Estimate(value, value, value, min(len(m_a), len(m_b)), n_units)
    df_seeds = part_a ** 2 / (len(m_a) - 1) + (0.0 if fixed_b else part_b ** 2 / (len(m_b) - 1))
    df = total ** 2 / df_seeds if df_seeds > 0 else float("inf")
    half = float(scipy_stats.t.ppf(1 - (1 - level) / 2, df)) * np.sqrt(total)
    return Estimate(value, value - half, value + half, min(len(m_a), len(m_b)), n_units)


def _cluster_variance(a: list[np.ndarray], b: list[np.ndarray], clusters: np.ndarray,
                      stat: Callable[[np.ndarray], np.ndarray], resamples: int, seed: int) -> float:
    """Variance of the arms' mean difference over template-cluster resamples of the shared units."""
    names, index = np.unique(clusters, return_inverse=True)
    if len(names) < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(names), size=(resamples, len(names)))
    per_cluster = np.stack([np.bincount(row, minlength=len(names)) for row in drawn]).astype(float)
    weights = per_cluster[:, index]  # resample x unit: how often each unit's cluster was drawn
    replicates = []
    for w in weights:
        da, db = _per_run(a, stat, w), _per_run(b, stat, w)
        with np.errstate(invalid="ignore"):
            replicates.append(np.nanmean(da) - np.nanmean(db))
    replicates = np.asarray(replicates)
    replicates = replicates[np.isfinite(replicates)]
    return float(replicates.var(ddof=1)) if len(replicates) > 1 else 0.0
