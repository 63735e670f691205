"""The instruments' own checks against constructed tables: estimates read from request.json, ablation damage and
agreement, erasure averaged over draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.instruments import ablation_agreement, ablation_table, erasure_table, estimate_table


def test_estimate_table_reads_each_estimate_of_each_sweep():
    report = {"n": 90, "pearson": 0.8, "top_k": 10, "false_negatives": 3, "missed": ["blocks.0.mlp_out@diff"],
              "rank_to_find_top_k": 25, "sites": 90}
    requests = [{"kind": "sweep", "model": "/runs/x/sft/theorem-full-s0", "pair_type": "theorem_swap", "pairs": 8,
                 "attribution_vs_exact": report, "atp_star_vs_exact": {**report, "false_negatives": 1},
                 "passes": {"attribution": {"forward": 32, "backward": 8},
                            "atp_star": {"forward": 32, "backward": 8, "graddrop_backward": 240}}},
                {"kind": "sweep", "model": "/runs/x/base"}]
    table = estimate_table(requests).set_index("estimate")
    assert list(table.index) == ["attribution", "atp_star"] and set(table["model"]) == {"theorem-full-s0"}
    assert table.loc["atp_star", "false_negatives"] == 1 and table.loc["atp_star", "passes_graddrop_backward"] == 240
    assert np.isnan(table.loc["attribution", "passes_graddrop_backward"])
    assert table.loc["attribution", "missed"] == "blocks.0.mlp_out@diff"


def ablation_rows(mode: str, damage: dict) -> list[dict]:
    """Clean = 1, corrupt = 0: the normalized effect of ablating a site is 1 - its damage."""
    return [{"model": "m", "method": mode, "direction": "noise", "pair_id": f"p{i}", "layer": layer,
             "component": component, "position": position, "value": 1 - d if position == "diff" else 1.0,
             "clean": 1.0, "corrupt": 0.0}
            for i in range(3) for (layer, component), d in damage.items() for position in ("diff", "last")]


def test_ablation_damage_is_read_at_the_most_damaging_span_and_modes_compared():
    sites = [(0, "mlp_out"), (0, "attn_out"), (1, "mlp_out"), (1, "attn_out")]
    zero = dict(zip(sites, [0.9, 0.1, 0.5, 0.3], strict=True))
    mean = dict(zip(sites, [0.2, 0.1, 0.6, 0.4], strict=True))     # mean ablation picks another top site
    frame = pd.DataFrame(ablation_rows("zero", zero) + ablation_rows("mean", mean)
                         + ablation_rows("exact", zero))              # exact rows are not ablations
    table = ablation_table(frame)
    assert set(table["mode"]) == {"zero", "mean"} and set(table["position"]) == {"diff"}
    got = table[table["mode"] == "zero"].set_index(["layer", "component"])["damage"]
    assert got.to_dict() == pytest.approx(zero)
    (row,) = ablation_agreement(table).to_dict("records")
    assert (row["a"], row["b"], row["same_top_site"]) == ("zero", "mean", False)
    assert row["top_a"] == "blocks.0.mlp_out" and row["top_b"] == "blocks.1.mlp_out"
    ranks = pd.Series(list(zero.values())).rank().corr(pd.Series(list(mean.values())).rank())
    assert row["spearman"] == pytest.approx(ranks)


def test_erasure_averages_random_draws_and_keeps_conditions_apart():
    rows = [("none", 0, 0, "probe_accuracy", 1.0), ("leace", 0, 4, "probe_accuracy", 0.1),
            ("random", 0, 4, "probe_accuracy", 0.9), ("random", 1, 4, "probe_accuracy", 0.7),
            ("random", 0, 4, "answer_accuracy", 0.5), ("random", 1, 4, "answer_accuracy", 0.3)]
    causal = pd.DataFrame([{"model": "m", "site": "blocks.1.resid_post", "label": "theorem", "condition": c,
                            "draw": d, "rank": r, "metric": metric, "value": v} for c, d, r, metric, v in rows])
    table = erasure_table(causal).set_index("condition")
    assert len(table) == 3 and table.loc["random", "draws"] == 2
    assert table.loc["random", "probe_accuracy"] == pytest.approx(0.8)
    assert table.loc["random", "answer_accuracy"] == pytest.approx(0.4)
    assert np.isnan(table.loc["leace", "answer_accuracy"])
