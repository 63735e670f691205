"""Random-location controls against planted tables: a null that a size-proportional effect cannot beat, a located
effect that it can, permutation nulls and the transplant's best window against random blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.controls import c4_control, controls_table, e7_controls, random_share, transplant_controls
from tsft.analysis.inside import cross_table, patch_map, tuning_importance

from tests.analysis.conftest import models_table
from tests.analysis.test_inside import patch_pairs, transplant_rows

MLP, ATTN = 3_000, 1_000    # a Llama-like layer: the MLP has three times the attention's parameters


def sized(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(parameters=np.where(frame["component"] == "mlp_out", MLP, ATTN))


def layers(restored_mlp: float, restored_attn: float, n: int = 8) -> dict:
    return {**{(layer, "mlp_out"): restored_mlp for layer in range(n)},
            **{(layer, "attn_out"): restored_attn for layer in range(n)}}


def test_equal_blocks_give_a_null_centred_on_half():
    blocks = pd.DataFrame({"layer": np.repeat(range(6), 2), "component": ["mlp_out", "attn_out"] * 6,
                           "parameters": 1.0, "restored": np.random.default_rng(0).uniform(0, 1, 12)})
    null = random_share(blocks, draws=3000)
    assert null.mean() == pytest.approx(0.5, abs=0.02)


def test_an_effect_proportional_to_size_is_not_above_random_blocks_of_that_size():
    """Every block restores in proportion to its parameters: the MLP share is 0.75 (well above 0.5, the verdict's
    line) but random blocks of the MLPs' size carry the same."""
    frame = sized(patch_pairs("t", layers(0.03, 0.01)))
    row = c4_control(frame, ["t"], draws=500)
    assert row["value"] == pytest.approx(0.75)
    assert row["null_mean"] == pytest.approx(0.75, abs=0.03) and row["p_value"] > 0.05
    assert "hold 0.75" in row["note"]


def test_an_effect_the_mlps_carry_beyond_their_size_is_above_the_null():
    frame = sized(patch_pairs("t", layers(0.05, 0.0)))
    row = c4_control(frame, ["t"], draws=500)
    assert row["value"] == pytest.approx(1.0) and row["null_high"] < 1.0 and row["p_value"] < 0.01


def test_tables_without_block_sizes_say_the_control_is_not_measured():
    row = c4_control(patch_pairs("t", layers(0.05, 0.0)), ["t"])
    assert np.isnan(row["value"]) and row["note"].startswith("not measured")


def test_transplant_best_window_against_random_blocks():
    rows = transplant_rows().assign(blocks=["", "", "mlp0", "mlp1", "mlp2", "mlp0 mlp1 mlp2"])
    random = pd.DataFrame([{**rows.iloc[0].to_dict(), "layers": f"random:{d}", "blocks": "attn1 attn2",
                            "accuracy": acc} for d, acc in enumerate([0.3, 0.6, 0.4])])
    (row,) = transplant_controls(pd.concat([rows, random], ignore_index=True))
    assert row["value"] == pytest.approx(0.55)          # layer 0: the best single window, not all layers at once
    assert row["p_value"] == pytest.approx(2 / 4)       # one random draw (0.6) is at or above it
    assert "layers 0" in row["note"]
    assert transplant_controls(rows) == []              # no random draws, no control


def test_e7_correlation_against_permuted_layers():
    models = models_table(["theorem-mlp-s0"])
    n = 7
    transplant = pd.DataFrame([{"source": "base", "target": "theorem-mlp-s0", "layers": layers, "kind": "original",
                                "n": 50, "accuracy": acc}
                               for layers, acc in [("none", 0.9), *((str(i), 0.9 - 0.1 * i) for i in range(n))]])
    importance = tuning_importance(transplant, pd.DataFrame(), base="base")
    aligned = patch_map(patch_pairs("theorem-mlp-s0", {(i, "mlp_out"): 0.1 * i for i in range(n)}))
    (row,) = e7_controls(aligned, importance, models, draws=2000)
    assert row["value"] == pytest.approx(1.0) and row["p_value"] < 0.01
    reversed_ = patch_map(patch_pairs("theorem-mlp-s0", {(i, "mlp_out"): 0.1 * (n - i) for i in range(n)}))
    (row,) = e7_controls(reversed_, importance, models, draws=2000)
    assert row["value"] == pytest.approx(-1.0) and row["p_value"] > 0.99
    flat = tuning_importance(transplant.assign(accuracy=0.9), pd.DataFrame(), base="base")
    (row,) = e7_controls(aligned, flat, models)
    assert np.isnan(row["value"]) and "same at every layer" in row["note"]


def test_controls_table_reads_the_cross_checkpoint_draws_at_the_peak():
    def rows(method, draw, value, layer):
        return [{"model": "t->a", "pair_id": f"p{i}", "layer": layer, "component": "mlp_out", "position": "all",
                 "value": value, "clean": 1.0, "corrupt": 0.0, "method": method, "draw": draw, "direction": "denoise"}
                for i in range(4)]

    cross_pairs = pd.DataFrame(rows("cross", 0, 0.8, 1) + rows("cross", 0, 0.2, 0) + rows("random", 0, 0.1, 1)
                               + rows("random", 1, 0.9, 1) + rows("random", 2, 0.95, 0))
    empty = pd.DataFrame()
    table = controls_table(empty, [], empty, empty, empty, models_table([]), cross_table(cross_pairs), cross_pairs,
                           empty)
    (row,) = table.to_dict("records")
    assert row["value"] == pytest.approx(0.8) and row["draws"] == 2         # only the draws at the peak site
    assert row["p_value"] == pytest.approx(2 / 3) and row["subject"] == "t->a mlp_out@1"


def test_c4_claim_reads_its_share_against_random_blocks():
    from tsft.analysis.claims import ClaimSettings, claim_c4

    frame = sized(patch_pairs("theorem-full-s0", layers(0.03, 0.01)))
    row = claim_c4(frame, models_table(["theorem-full-s0"]), ClaimSettings())
    assert row["value"] > 0.7                                      # 0.75 > 0.5 ...
    assert row["verdict"] == "inconclusive"                        # ... but no more than size predicts: the
    assert "cannot tell the MLPs' role from their size" in row["note"]  # control is not determined either way
    below = claim_c4(sized(patch_pairs("theorem-full-s0", layers(0.03, 0.03))), models_table(["theorem-full-s0"]),
                     ClaimSettings())                               # equal effect per block: share 0.5 < size's
    assert below["verdict"] == "not supported" and "the MLPs carry less than blocks of their size" in below["note"]
    located = claim_c4(sized(patch_pairs("theorem-full-s0", layers(0.05, 0.0))), models_table(["theorem-full-s0"]),
                       ClaimSettings())
    assert located["verdict"] == "supported" and "above random attention + MLP block sets" in located["note"]


def test_best_tuned_layer_against_runs_tuning_random_blocks():
    from tsft.analysis.controls import tuning_controls

    accuracy = pd.DataFrame([{"target": "theorem", "params": p, "kind": k, "accuracy": a}
                             for p, a in (("mlp:0-0", 0.4), ("mlp:1-1", 0.7), ("random:0", 0.65), ("random:1", 0.8),
                                          ("full", 0.9)) for k in ("original", "paraphrase")])
    (row,) = tuning_controls(accuracy)
    assert row["value"] == pytest.approx(0.7) and row["draws"] == 2 and row["p_value"] == pytest.approx(2 / 3)
    assert "mlp:1-1" in row["note"] and row["subject"] == "theorem-SFT"
    assert tuning_controls(accuracy[~accuracy["params"].str.startswith("random")]) == []
