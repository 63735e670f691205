"""E3-E7 tables against hand computations on constructed patching, probe and transplant tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.inside import (
    e7_table,
    mlp_share,
    patch_map,
    probe_peaks,
    probe_transfer,
    transplant_table,
    tuning_importance,
    wilson,
)

from tests.analysis.conftest import models_table


def patch_pairs(model: str, restored: dict[tuple[int, str], float], n_pairs: int = 4, clean: float = 5.0,
                corrupt: float = 1.0, noise: float = 0.0) -> pd.DataFrame:
    """Per-pair exact patching rows: site (layer, component) restores `restored` of the clean-corrupt gap at the
    `diff` span (and nothing at `last`)."""
    rng = np.random.default_rng(0)
    rows = []
    for pair in range(n_pairs):
        for (layer, component), share in restored.items():
            for position, fraction in (("diff", share), ("last", 0.0)):
                value = corrupt + fraction * (clean - corrupt) + noise * rng.standard_normal()
                rows.append({"model": model, "method": "exact", "direction": "denoise", "pair_type": "theorem_swap",
                             "pair_id": f"p{pair}", "layer": layer, "component": component, "position": position,
                             "value": value, "clean": clean, "corrupt": corrupt,
                             "normalized": (value - corrupt) / (clean - corrupt) if clean != corrupt else np.nan})
    return pd.DataFrame(rows)


def test_patch_map_is_the_normalized_mean_at_the_strongest_span():
    frame = patch_pairs("theorem-full-s0", {(0, "mlp_out"): 0.6, (0, "attn_out"): 0.2, (1, "mlp_out"): 0.1})
    table = patch_map(frame).set_index(["layer", "component"])
    assert table.loc[(0, "mlp_out"), "effect"] == pytest.approx(0.6)
    assert table.loc[(0, "mlp_out"), "position"] == "diff"
    assert table.loc[(1, "mlp_out"), "effect"] == pytest.approx(0.1)
    assert table.loc[(0, "mlp_out"), "n_pairs"] == 4


def test_mlp_share_is_restored_mlp_over_mlp_plus_attention():
    frame = patch_pairs("m", {(0, "mlp_out"): 0.6, (1, "mlp_out"): 0.3, (0, "attn_out"): 0.3})
    share = mlp_share(frame, ["m"])
    assert share.value == pytest.approx(0.9 / 1.2)
    assert share.low == pytest.approx(0.75) and share.high == pytest.approx(0.75)  # identical pairs
    noisy = mlp_share(patch_pairs("m", {(0, "mlp_out"): 0.5, (0, "attn_out"): 0.5}, n_pairs=60, noise=0.5), ["m"])
    assert noisy.low < 0.5 < noisy.high


def test_pairs_without_a_clean_corrupt_gap_are_left_out():
    frame = pd.concat([patch_pairs("m", {(0, "mlp_out"): 1.0, (0, "attn_out"): 0.0}),
                       patch_pairs("m", {(0, "mlp_out"): 0.0, (0, "attn_out"): 1.0}, clean=1.0, corrupt=1.0)
                       .assign(pair_id=lambda f: f["pair_id"] + "x")])
    assert mlp_share(frame, ["m"]).value == pytest.approx(1.0)


def probe_rows(model: str, selectivity: list[float]) -> pd.DataFrame:
    rows = []
    for layer, sel in enumerate(selectivity):
        for metric, value in (("accuracy", sel + 0.1), ("control_accuracy", 0.1), ("selectivity", sel),
                              ("majority", 0.05)):
            rows.append({"model": model, "site": f"blocks.{layer}.resid_post", "layer": layer,
                         "component": "resid_post", "position": "last", "label": "theorem", "metric": metric,
                         "kind": "original", "value": value, "ci_low": value - 0.05, "ci_high": value + 0.05,
                         "n_folds": 5, "n": 100})
        for kind, value in (("paraphrase", sel / 2), ("entity_rename", sel)):
            rows.append({"model": model, "site": f"blocks.{layer}.resid_post", "layer": layer,
                         "component": "resid_post", "position": "last", "label": "theorem", "metric": "transfer",
                         "kind": kind, "value": value, "ci_low": value - 0.05, "ci_high": value + 0.05,
                         "n_folds": 5, "n": 100})
    return pd.DataFrame(rows)


def test_probe_peak_is_the_layer_of_highest_selectivity_with_transfer_there():
    probes = pd.concat([probe_rows("a", [0.1, 0.5, 0.3]), probe_rows("b", [0.6, 0.2, 0.1])])
    peaks = probe_peaks(probes).set_index("model")
    assert peaks.loc["a", "peak_layer"] == 1 and peaks.loc["b", "peak_layer"] == 0
    assert peaks.loc["a", "accuracy"] == pytest.approx(0.6)
    transfer = probe_transfer(probes, peaks.reset_index()).set_index(["model", "kind"])
    assert transfer.loc[("a", "paraphrase"), "value"] == pytest.approx(0.25)
    assert transfer.loc[("a", "original"), "value"] == pytest.approx(0.6)
    assert set(transfer.loc["a", "layer"]) == {1}


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.1611, abs=1e-4)


def transplant_rows() -> pd.DataFrame:
    """Reverting layer 2 of theorem-mlp-s0 to the base costs the most accuracy."""
    rows = [{"source": "base", "target": "theorem-mlp-s0", "layers": layers, "kind": "original", "n": 50,
             "accuracy": acc, "names_a_theorem": 1.0}
            for layers, acc in (("none", 0.6), ("source", 0.0), ("0", 0.55), ("1", 0.5), ("2", 0.1), ("0-2", 0.0))]
    return pd.DataFrame(rows)


def test_e7_compares_the_patching_peak_with_the_tuning_peak():
    models = models_table(["theorem-mlp-s0"])
    importance = tuning_importance(transplant_rows(), pd.DataFrame(), base="base")
    assert importance.set_index("layer")["importance"].round(2).to_dict() == {0: 0.05, 1: 0.1, 2: 0.5}
    effects = patch_map(patch_pairs("theorem-mlp-s0", {(0, "mlp_out"): 0.1, (1, "mlp_out"): 0.2,
                                                       (2, "mlp_out"): 0.7}))
    row = e7_table(effects, importance, models).iloc[0]
    assert (row["patch_peak_layer"], row["tuning_peak_layer"], bool(row["agree"])) == (2, 2, True)
    assert row["spearman"] == pytest.approx(1.0)
    table = transplant_table(transplant_rows())
    assert np.all(table["ci_low"] <= table["accuracy"]) and np.all(table["accuracy"] <= table["ci_high"])


def test_per_layer_runs_take_precedence_over_transplant_evidence():
    accuracy = pd.DataFrame([{"target": "theorem", "params": f"mlp:{layer}-{layer}", "kind": "original",
                              "accuracy": acc} for layer, acc in ((0, 0.2), (1, 0.4))])
    importance = tuning_importance(transplant_rows(), accuracy, base="base")
    assert set(importance["evidence"]) == {"per-layer MLP runs (accuracy)"}
    assert importance.set_index("layer")["importance"].to_dict() == {0: 0.2, 1: 0.4}


def test_share_turns_the_sign_for_metrics_where_lower_is_cleaner():
    kl = patch_pairs("m", {(0, "mlp_out"): 0.75, (0, "attn_out"): 0.25}, clean=0.0, corrupt=2.0)
    assert mlp_share(kl, ["m"]).value == pytest.approx(0.75)
    assert set(patch_map(kl)["position"]) == {"diff"}


def test_cross_table_reads_the_claim_against_its_random_direction_control():
    import pandas as pd
    from tsft.analysis.inside import cross_table

    def rows(method, draw, value):
        return [{"model": "t->a", "pair_id": f"p{i}", "layer": 0, "component": "mlp_out", "position": "all",
                 "value": value, "clean": 1.0, "corrupt": 0.0, "method": method, "draw": draw, "direction": "denoise"}
                for i in range(4)]

    frame = pd.DataFrame(rows("cross", 0, 0.8) + rows("random", 0, 0.1) + rows("random", 1, 0.3))
    table = cross_table(frame).iloc[0]
    assert table["effect"] == pytest.approx(0.8)  # the control rows do not leak into the effect
    assert table["control_mean"] == pytest.approx(0.2) and table["control_max"] == pytest.approx(0.3)
