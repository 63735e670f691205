"""The claims' random-slopes logistic model, fitted in two stages so that its interval holds its 95% with 3-5 seeds.

The model C1 and C2 are read with beside the accuracy differences is

    logit P(correct) = arm x perturbed + (1 | question) + (1 + perturbed | run)

every run (seed) with its own intercept *and its own drop under perturbation*, the question's difficulty shared
by all its versions. A claim about an arm is a claim across seeds, so the arm's effect must be read against the
spread of the runs' slopes, and the questions' sampling added.

One-stage fits of it were measured first and rejected. statsmodels' variational fit (`BinomialBayesMixedGLM
.fit_vb`) gave, on planted data with 3 runs per arm (run intercept and slope sd 0.3, interaction 0.5), a
posterior sd half the estimate's spread over datasets (0.125 against 0.26): 83% coverage, and a mean of 0.60. Its
Laplace fit (`fit_map`) covered 93% there, but on the test fixtures its variance components ran off (a question
sd of e^-18 and a template sd of e^2.6, with NaN standard errors), and its prior on the log-sds, centred on sd 1,
widened a 1.6 log-odds arm effect on 4 seeds an arm to [-1.8, ...].

The two-stage fit is the summary-statistics estimator of the same model:

1. **Within a run**, the question effects are conditioned out. C1: each original is matched with each of its
   surface-perturbed versions; with b pairs (original right, perturbed wrong) and c pairs (original wrong,
   perturbed right), the run's conditional log-odds drop is log((b + 0.5) / (c + 0.5)) (McNemar's conditional
   odds ratio, which a question intercept cancels from). C2: the run's log-odds of being right on the
   surface-perturbed problems.
2. **Across runs**, analysis.seeds' interval: the arms' mean difference, seed variance from the runs' spread
   (the random slopes), problem variance from a bootstrap over templates of the shared originals, a Welch t.

C1's value is answer-SFT's drop minus theorem-SFT's (positive: theorem-SFT loses less, as the one-stage
`arm[theorem]:perturbed` term reads), C2's is theorem-SFT's log-odds minus answer-SFT's. Coverage on planted
data with seed, template and question variance: tests/analysis/test_twostage.py (>= 90% of datasets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.accuracy import template_clusters
from tsft.analysis.seeds import seed_interval

HALF = 0.5
"""Added to each count: a run with no discordant pair of one kind stays finite."""


def _per_original(frame: pd.DataFrame, columns) -> dict[str, pd.DataFrame]:
    """Per run (model), a table indexed by original_id with the given per-original sums (callable frame -> frame)."""
    return {model: columns(part) for model, part in frame.groupby("model", sort=True)}


def _discordant(part: pd.DataFrame) -> pd.DataFrame:
    """Per original: b (original right, perturbed wrong) and c (original wrong, perturbed right) over its
    perturbed versions."""
    original = part[part["kind"] == "original"].groupby("original_id")["correct"].first().astype(bool)
    perturbed = part[part["kind"] != "original"]
    right = perturbed["original_id"].map(original)
    kept = perturbed[right.notna()]
    right, now = right[right.notna()].astype(bool), kept["correct"].astype(bool)
    pairs = pd.DataFrame({"original_id": kept["original_id"], "b": right & ~now, "c": ~right & now})
    return pairs.groupby("original_id")[["b", "c"]].sum().astype(float)


def _correct(part: pd.DataFrame) -> pd.DataFrame:
    """Per original: right answers and problems over its surface-perturbed versions."""
    return part.assign(n=1.0, right=part["correct"].astype(float)).groupby("original_id")[["right", "n"]].sum()


def drop_stat(sums: np.ndarray) -> np.ndarray:
    """log((b + 1/2) / (c + 1/2)) of each row of (b, c) sums."""
    return np.log((sums[:, 0] + HALF) / (sums[:, 1] + HALF))


def logit_stat(sums: np.ndarray) -> np.ndarray:
    """log-odds of (right + 1/2) / (n + 1) of each row of (right, n) sums."""
    p = (sums[:, 0] + HALF) / (sums[:, 1] + 2 * HALF)
    return np.log(p / (1 - p))


def _aligned(tables: dict[str, pd.DataFrame], originals: list) -> list[np.ndarray]:
    return [table.reindex(originals, fill_value=0.0).to_numpy(dtype=float) for table in tables.values()]


def claim_effect(theorem: pd.DataFrame, answer: pd.DataFrame, templates: pd.DataFrame | None, surface: list[str],
                 interaction: bool) -> pd.Series | None:
    """C1 (`interaction`): answer-SFT's conditional log-odds drop minus theorem-SFT's; C2: theorem-SFT's log-odds
    on surface-perturbed problems minus answer-SFT's; `templates` (problem_id -> template of the originals) are
    the problem part's clusters. A row (value, ci_low, ci_high, n_seeds, n_units), or None when there is nothing
    to compare."""
    kinds = ["original", *surface] if interaction else list(surface)
    frames = [f[f["kind"].isin(kinds)] for f in (theorem, answer)]
    if any(f.empty for f in frames):
        return None
    per_run = [_per_original(f, _discordant if interaction else _correct) for f in frames]
    originals = sorted(set().union(*(t.index for runs in per_run for t in runs.values())))
    if not originals:
        return None
    clusters = template_clusters(originals, templates)
    units_theorem, units_answer = (_aligned(runs, originals) for runs in per_run)
    if interaction:
        estimate = seed_interval(units_answer, units_theorem, clusters, drop_stat)
    else:
        estimate = seed_interval(units_theorem, units_answer, clusters, logit_stat)
    return pd.Series(estimate.as_dict())
