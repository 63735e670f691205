"""MIB's metrics: the areas against a hand-computed trapezoid, sizes, CPR / CMD of planted curves, the
importance file's scores, and a sweep with --mib end to end (the whole circuit is the clean model, the empty one
the fully ablated model, for every ranking)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tsft.patching.mib import FRACTIONS, area, importance_json, mib_scores, sizes

from tests.patching.test_cli_patch import invoke


def test_area_is_the_trapezoid_over_fractions_scaled_to_one():
    x, y = [0.1, 0.5, 1.0], [0.2, 0.6, 1.0]
    by_hand = (0.5 - 0.1) * (0.2 + 0.6) / 2 + (1.0 - 0.5) * (0.6 + 1.0) / 2
    assert area(x, y) == pytest.approx(by_hand)
    assert area([1, 5, 10], y) == pytest.approx(by_hand)  # percentages or fractions: the same area
    assert sizes(90) == [0, 0, 0, 0, 1, 4, 9, 18, 45, 90] and sizes(1000)[0] == 1


def test_scores_of_planted_curves_and_the_pooled_random_row():
    rows = []
    for ranking, f in (("exact", np.ones(len(FRACTIONS))), ("random:0", np.array(FRACTIONS)),
                       ("random:1", np.zeros(len(FRACTIONS)))):
        rows += [{"ranking": ranking, "ablation": "zero", "fraction": x, "k": int(x * 100), "faithfulness": v}
                 for x, v in zip(FRACTIONS, f, strict=True)]
    scores = mib_scores(pd.DataFrame(rows)).set_index("ranking")
    span = 1.0 - FRACTIONS[0]
    assert scores.loc["exact", "cpr"] == pytest.approx(span) and scores.loc["exact", "cmd"] == pytest.approx(0)
    assert scores.loc["random:1", "cpr"] == 0 and scores.loc["random:1", "cmd"] == pytest.approx(span)
    assert scores.loc["random:0", "cpr"] == pytest.approx((1 - FRACTIONS[0] ** 2) / 2)  # the area under y = x
    assert scores.loc["random", "cpr"] == pytest.approx((scores.loc["random:0", "cpr"] + 0) / 2)


def test_importance_scores_are_the_signed_effect_where_it_is_largest():
    exact = pd.DataFrame({"layer": [0, 0, 0, 0, 1, 1], "component": ["mlp_out", "mlp_out", "attn_out", "attn_out",
                                                                      "mlp_out", "resid_pre"],
                          "position": ["diff", "last", "diff", "last", "last", "last"],
                          "normalized": [0.2, -0.7, 0.1, 0.05, 0.4, 0.9]})
    nodes = importance_json(exact, n_layers=2, d_model=8)["nodes"]
    assert nodes["m0"]["score"] == pytest.approx(-0.7) and nodes["a0"]["score"] == pytest.approx(0.1)
    assert nodes["m1"]["score"] == pytest.approx(0.4) and "a1" not in nodes and set(nodes) >= {"input", "logits"}


def test_a_sweep_with_mib_scores_every_ranking(model_dirs, data_dir, tmp_path):
    out = tmp_path / "mib"
    code, output = invoke("patch", "sweep", "--model", model_dirs[0], "--data", data_dir, "--out", out, "--limit",
                          "2", "--target", "theorem", "--positions", "last", "--method", "all", "--ablations",
                          "zero,mean", "--mib", "2")
    assert code == 0, output
    curves = pd.read_parquet(out / "mib.parquet")
    assert set(curves["ranking"]) == {"exact", "attribution", "atp_star", "random:0", "random:1"}
    whole = curves[curves["fraction"] == 1.0]
    assert np.allclose(whole["faithfulness"], 1.0)  # every site kept: the clean model
    empty = curves[curves["k"] == 0]
    assert len(empty) and np.allclose(empty["faithfulness"], 0.0)  # none kept: everything ablated
    scores = pd.read_parquet(out / "mib_scores.parquet")
    assert {"exact", "random"} <= set(scores["ranking"]) and set(scores["ablation"]) == {"zero", "mean"}
    nodes = json.loads((out / "mib_importance.json").read_text())["nodes"]
    assert {"m0", "m1", "a0", "a1"} <= set(nodes) and "CPR" in output
