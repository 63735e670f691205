"""The two-level bootstrap against a hand-written loop, its coverage, and the verdict rule."""

from __future__ import annotations

import numpy as np
import pytest
from tsft.analysis.stats import Estimate, accuracy_stat, cluster_bootstrap, difference, resample_counts, verdict


def units(correct: np.ndarray) -> np.ndarray:
    return np.column_stack([correct, np.ones_like(correct)])


def test_resample_counts_are_draws_with_replacement():
    counts = resample_counts(np.random.default_rng(0), 7, 500)
    assert counts.shape == (500, 7)
    assert np.all(counts.sum(axis=1) == 7)
    assert abs(counts.mean() - 1.0) < 0.05


def test_one_seed_matches_a_hand_written_percentile_bootstrap():
    rng = np.random.default_rng(1)
    correct = (rng.random(400) < 0.3).astype(float)
    estimate = cluster_bootstrap([units(correct)], accuracy_stat, resamples=4000)
    hand_rng = np.random.default_rng(2)
    means = [correct[hand_rng.integers(0, 400, 400)].mean() for _ in range(4000)]
    assert estimate.value == pytest.approx(correct.mean())
    assert estimate.low == pytest.approx(np.quantile(means, 0.025), abs=0.01)
    assert estimate.high == pytest.approx(np.quantile(means, 0.975), abs=0.01)


def test_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    hits = 0
    for trial in range(200):
        correct = (rng.random(200) < 0.4).astype(float)
        estimate = cluster_bootstrap([units(correct)], accuracy_stat, resamples=1000, seed=trial)
        hits += estimate.low <= 0.4 <= estimate.high
    assert 0.89 <= hits / 200 <= 0.99


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(4)
    same = [units((rng.random(300) < 0.5).astype(float)) for _ in range(3)]
    spread = [units((rng.random(300) < p).astype(float)) for p in (0.2, 0.5, 0.8)]
    narrow = cluster_bootstrap(same, accuracy_stat)
    wide = cluster_bootstrap(spread, accuracy_stat)
    assert wide.n_seeds == 3
    assert (wide.high - wide.low) > 3 * (narrow.high - narrow.low)
    assert wide.value == pytest.approx(np.mean([a[:, 0].mean() for a in spread]))


def test_paired_difference_of_identical_models_is_exactly_zero():
    rng = np.random.default_rng(5)
    a = units((rng.random(100) < 0.5).astype(float))
    estimate = cluster_bootstrap([np.hstack([a, a])], difference(accuracy_stat, 2))
    assert (estimate.value, estimate.low, estimate.high) == (0.0, 0.0, 0.0)


def test_undefined_statistic_gives_no_interval():
    zeros = units(np.zeros(50))
    ratio = cluster_bootstrap([np.hstack([zeros, zeros])], lambda s: s[:, 2] / s[:, 0])
    assert np.isnan(ratio.low) and verdict(ratio, 0.0) == "inconclusive"


@pytest.mark.parametrize(("low", "high", "direction", "expected"), [
    (0.1, 0.3, 1, "supported"), (-0.3, -0.1, 1, "not supported"), (-0.1, 0.2, 1, "inconclusive"),
    (-0.3, -0.1, -1, "supported"), (0.0, 0.2, 1, "inconclusive"),
])
def test_verdict_rule(low, high, direction, expected):
    assert verdict(Estimate((low + high) / 2, low, high, 3, 100), 0.0, direction) == expected


@pytest.mark.parametrize(("low", "high", "expected"), [
    (-0.03, 0.04, "supported"), (-0.2, -0.08, "not supported"), (-0.08, 0.01, "inconclusive"),
])
def test_equivalence_verdict(low, high, expected):
    assert verdict(Estimate((low + high) / 2, low, high, 3, 100), 0.0, margin=0.05) == expected


def test_several_seeds_match_a_hand_written_two_level_loop():
    rng = np.random.default_rng(6)
    seeds = [(rng.random(150) < p).astype(float) for p in (0.3, 0.45, 0.6)]
    estimate = cluster_bootstrap([units(s) for s in seeds], accuracy_stat, resamples=4000)
    hand_rng = np.random.default_rng(7)
    means = [np.mean([seeds[s][hand_rng.integers(0, 150, 150)].mean() for s in hand_rng.integers(0, 3, 3)])
             for _ in range(4000)]
    assert estimate.low == pytest.approx(np.quantile(means, 0.025), abs=0.012)
    assert estimate.high == pytest.approx(np.quantile(means, 0.975), abs=0.012)
