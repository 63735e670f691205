"""DAS and delta-inference tables from hand-written rows with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.variables import das_best, das_first, das_sites, delta_contrast, delta_table

from tests.analysis.conftest import models_table, predictions_for


def _das_rows():
    rows = []
    for layer in range(4):
        for component in ("attn_out", "mlp_out"):
            for method, k in (("das", 4), ("das_used", 4), ("full", 64), ("random", 4)):
                iia = {"das": 0.3 * layer + (0.1 if component == "mlp_out" else 0),
                       "das_used": 0.1, "full": 0.9 if layer == 3 else 0.0, "random": 0.05}[method]
                for split in ("train", "heldout_pairs"):
                    for pairing in ("swap", "all"):
                        rows.append({"model": "m", "layer": layer, "component": component, "position": "last",
                                     "k": k, "method": method, "split": split, "pairing": pairing,
                                     "iia": min(iia, 1.0), "n": 20, "outside": 0.3 if method == "das" else np.nan})
    return pd.DataFrame(rows)


def test_das_first_best_and_illusion_read_the_planted_rows():
    table = _das_rows()
    first = das_first(table).set_index("method")
    # das: 0.3 * layer (+ 0.1 at mlp_out) first reaches 0.8 at layer 3 attn_out (0.9) before mlp_out (1.0)
    assert (first.loc["das", "layer"], first.loc["das", "component"]) == (3, "attn_out")
    assert first.loc["full", "layer"] == 3 and first.loc["random", "layer"] == -1
    best = das_best(table)
    mine = best[(best["method"] == "das") & (best["split"] == "heldout_pairs")].iloc[0]
    assert (mine["layer"], mine["component"], round(mine["iia"], 9)) == (3, "mlp_out", 1.0)
    assert mine["used_iia"] == 0.1 and bool(mine["illusion"])  # 1.0 -> 0.1 without the unused directions
    sites = das_sites(table)
    assert set(sites["split"]) == {"heldout_pairs"} and "das_used" not in set(sites["method"])


def test_delta_table_pools_seeds_and_the_contrast_is_paired():
    rows, names = [], []
    for seed in (0, 1):
        name = f"theorem-full-s{seed}"
        names.append(name)
        for variant, original, perturbed in (("attn", np.ones(10), np.ones(10)),
                                             ("all", np.ones(10), np.r_[np.ones(5), np.zeros(5)])):
            frame = predictions_for(name, original, {"paraphrase": perturbed}, seed=seed)
            rows.append(frame.assign(variant=variant)[["model", "variant", "kind", "problem_id", "original_id",
                                                       "correct"]])
    deltas = pd.concat(rows, ignore_index=True)
    models = models_table(names).assign(variant=None)
    table = delta_table(deltas, models).set_index(["variant", "kind"])
    assert table.loc[("all", "paraphrase"), "value"] == 0.5 and table.loc[("attn", "paraphrase"), "value"] == 1.0
    assert table.loc[("all", "surface"), "value"] == 0.5 and table.loc[("all", "surface"), "measure"] == "robustness"
    assert (table["seeds"] == 2).all()
    contrast = delta_contrast(deltas, models).set_index("kind")
    assert contrast.loc["original", "value"] == 0.0 and contrast.loc["surface", "value"] == 0.5
    assert contrast.loc["surface", "low"] > 0
    assert delta_table(pd.DataFrame(), models).empty and das_best(pd.DataFrame()).empty


def test_robustness_of_a_variant_that_has_not_learned_is_not_read():
    from tsft.figures.variables import delta_sentences

    rows = [predictions_for("theorem-full-s0", np.r_[np.ones(1), np.zeros(9)], {"paraphrase": np.ones(10)})
            .assign(variant=v) for v in ("attn", "all")]
    deltas, models = pd.concat(rows), models_table(["theorem-full-s0"]).assign(variant=None)
    table, contrast = delta_table(deltas, models), delta_contrast(deltas, models)
    assert not table["learned"].any() and not contrast["learned"].any()
    said = delta_sentences(table, contrast)[0]
    assert "not read (originals not determined above 0.20)" in said and "on surface" not in said
