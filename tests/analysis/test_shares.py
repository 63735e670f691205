"""C4's extra readings on planted patching tables: the count-matched null against an exact enumeration, the share
without layer 0, and theorem - base / theorem - answer differences over seeds."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.claims import ClaimSettings, claim_c4
from tsft.analysis.controls import c4_control, random_share
from tsft.analysis.seeds import seed_interval
from tsft.analysis.shares import share_difference, share_table

from tests.analysis.conftest import models_table
from tests.analysis.test_controls import layers, sized
from tests.analysis.test_inside import patch_pairs


def test_the_count_matched_null_is_the_exact_distribution_over_block_sets():
    """Four blocks, two of them MLPs: every pair of blocks is equally likely, so the null's mean is the mean over
    the six pairs, computed by enumeration."""
    restored = np.array([0.5, 0.1, 0.3, 0.1])
    blocks = pd.DataFrame({"layer": [0, 0, 1, 1], "component": ["mlp_out", "attn_out"] * 2,
                           "parameters": [30, 10, 30, 10], "restored": restored})
    exact = [restored[list(pair)].sum() / restored.sum() for pair in itertools.combinations(range(4), 2)]
    null = random_share(blocks, draws=6000, seed=1, match="count")
    assert set(np.round(null, 9)) <= set(np.round(exact, 9))
    assert null.mean() == pytest.approx(np.mean(exact), abs=0.01)


def test_equal_effect_per_block_is_within_the_count_null_and_below_the_size_null():
    frame = sized(patch_pairs("t", layers(0.03, 0.03)))
    count = c4_control(frame, ["t"], draws=300, match="count")
    size = c4_control(frame, ["t"], draws=300)
    assert count["value"] == pytest.approx(0.5) and count["null_mean"] == pytest.approx(0.5)
    assert count["p_value"] > 0.05 and count["p_below"] > 0.05 and size["p_below"] < 0.05
    assert count["control"] == "random blocks of equal count" and "8 of their 16 blocks" in count["note"]


def test_a_share_carried_by_layer_zero_alone_does_not_support_c4():
    restored = {(0, "mlp_out"): 0.9, (0, "attn_out"): 0.0,
                **{(layer, "mlp_out"): 0.01 for layer in range(1, 6)},
                **{(layer, "attn_out"): 0.05 for layer in range(1, 6)}}
    frame = patch_pairs("theorem-full-s0", restored, n_pairs=40, noise=0.01)
    row = claim_c4(frame, models_table(["theorem-full-s0"]), ClaimSettings())
    assert row["value"] > 0.5 and row["ci_low"] > 0.5
    assert row["verdict"] == "not supported" and "above 0.5 only through layer 0" in row["note"]
    below = patch_pairs("theorem-full-s0", {(layer, component): 0.01 if component == "mlp_out" else 0.05
                                            for layer in range(4) for component in ("mlp_out", "attn_out")},
                        n_pairs=40, noise=0.01)
    row = claim_c4(below, models_table(["theorem-full-s0"]), ClaimSettings())
    assert row["ci_high"] < 0.5 and "below 0.5 without layer 0 too" in row["note"]


def seeded_runs(name: str, mlp: float, seeds: int, spread: float, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    frames = []
    for seed in range(seeds):
        share = mlp + spread * rng.standard_normal()
        frames.append(patch_pairs(f"{name}-s{seed}", {(1, "mlp_out"): 0.5 * share, (1, "attn_out"): 0.5 * (1 - share)},
                                  n_pairs=64, noise=0.02))
    return pd.concat(frames)


def test_theorem_minus_base_and_answer_over_seeds_find_the_planted_differences():
    pairs = pd.concat([seeded_runs("theorem-full", 0.75, 3, 0.03), seeded_runs("answer-full", 0.74, 3, 0.03, 7),
                       patch_pairs("base", {(1, "mlp_out"): 0.2, (1, "attn_out"): 0.3}, n_pairs=64, noise=0.02)])
    theorem, answer = [f"theorem-full-s{s}" for s in range(3)], [f"answer-full-s{s}" for s in range(3)]
    versus_base = share_difference(pairs, theorem, ["base"], fixed_b=True)
    assert versus_base.low > 0 and versus_base.value == pytest.approx(0.75 - 0.4, abs=0.06)
    versus_answer = share_difference(pairs, theorem, answer)
    assert versus_answer.low < 0 < versus_answer.high and versus_answer.n_seeds == 3
    assert np.isnan(share_difference(pairs, theorem, ["base"]).low)  # one base run and no fixed arm: no interval
    models = pd.concat([models_table([*theorem, *answer]),
                        pd.DataFrame([{"model": "base", "kind": "base", "target": None, "params": None}])])
    table = share_table(pairs, models, base="base").set_index("reading")
    assert table.loc["MLP share, theorem - base", "ci_low"] == pytest.approx(versus_base.low)
    assert table.loc["MLP share, theorem - answer", "value"] == pytest.approx(versus_answer.value)
    assert table.loc["MLP share without layer 0", "value"] == pytest.approx(table.loc["MLP share", "value"].iloc[0])


def test_a_fixed_arm_is_an_arm_whose_seeds_all_agree():
    """B as one fixed model gives the interval of B run twice with identical results (no seed spread), and the
    difference of the means."""
    rng = np.random.default_rng(3)
    a = [rng.uniform(0, 1, (50, 1)) + shift for shift in (0.0, 0.1, 0.2)]
    b = [rng.uniform(0, 1, (50, 1))]
    mean = lambda sums: sums[:, 0] / 50  # noqa: E731
    fixed = seed_interval(a, b, np.arange(50), mean, fixed_b=True)
    twice = seed_interval(a, b * 2, np.arange(50), mean)
    assert fixed.value == pytest.approx(np.mean([x.mean() for x in a]) - b[0].mean())
    assert (fixed.low, fixed.high) == pytest.approx((twice.low, twice.high))
    assert np.isnan(seed_interval(a, b, np.arange(50), mean).low)
