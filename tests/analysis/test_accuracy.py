"""E1/E2/F8 tables against hand computations on fixture predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.accuracy import (
    SURFACE,
    accuracy_table,
    matched_steps,
    matched_table,
    selection_table,
    surface_kinds,
    template_table,
    unit_sums,
)

from tests.analysis.conftest import models_table, predictions_for

NAN = np.nan


def test_accuracy_and_robustness_match_hand_computation(world_predictions):
    frame, _ = world_predictions
    table = accuracy_table(frame).set_index(["target", "params", "kind"])
    for target in ("answer", "theorem", "solution"):
        mine = frame[frame["target"] == target]
        per_seed = [g for _, g in mine.groupby("seed")]
        orig = np.mean([g[g.kind == "original"].correct.mean() for g in per_seed])
        row = table.loc[(target, "full", "original")]
        assert row["accuracy"] == pytest.approx(orig)
        assert row["n_seeds"] == 2 and row["ci_low"] < row["accuracy"] < row["ci_high"]
        surface = table.loc[(target, "full", SURFACE)]
        hand = np.mean([g[g.kind.isin(["entity_rename_novel", "paraphrase"])].correct.mean()
                        / g[g.kind == "original"].correct.mean() for g in per_seed])
        assert surface["robustness"] == pytest.approx(hand)
    assert table.loc[("answer", "full", SURFACE), "robustness_high"] < table.loc[("theorem", "full", SURFACE),
                                                                                 "robustness_low"]


def test_surface_pools_answer_invariant_shifts_only():
    kinds = ["original", "out_of_range", "paraphrase", "entity_rename", "entity_rename_novel", "letter_rename"]
    assert surface_kinds(kinds) == ["entity_rename_novel", "paraphrase"]  # renames from training's pools are controls


def test_robustness_uses_only_originals_that_have_the_kind():
    frame = predictions_for("answer-full-s0", np.array([1, 1, 0, 0]),
                            {"reorder_givens": np.array([1, NAN, NAN, 0])})
    sums = unit_sums(frame, "reorder_givens")
    assert list(sums.index) == ["o0", "o3"]
    table = accuracy_table(frame.assign(target="answer", params="full", seed=0)).set_index("kind")
    # originals that have the kind: o0 (right), o3 (wrong) -> 0.5; their versions: 1 of 2 -> 0.5; robustness 1
    assert table.loc["reorder_givens", "robustness"] == pytest.approx(1.0)
    assert table.loc["original", "accuracy"] == pytest.approx(0.5)


def test_selection_difference_is_paired_and_signed():
    rng = np.random.default_rng(0)
    original = (rng.random(200) < 0.6).astype(float)
    worse = original.copy()
    worse[:40] = 0.0
    frames = [predictions_for("theorem-full-s0", original, {"paraphrase": original}),
              predictions_for("theorem-mlp-s0", worse, {"paraphrase": worse})]
    facts = models_table(["theorem-full-s0", "theorem-mlp-s0"])[["model", "target", "params", "seed"]]
    frame = pd.concat(frames).merge(facts, on="model")
    table = selection_table(frame).set_index(["params", "kind"])
    expected = worse.mean() - original.mean()
    assert table.loc[("mlp", "original"), "diff_vs_full"] == pytest.approx(expected)
    assert table.loc[("mlp", "original"), "diff_high"] <= 0.0


def test_matched_steps_pick_the_first_step_reaching_the_lowest_best_accuracy():
    curves = pd.DataFrame([
        {"model": "answer-full-s0", "step": 50, "heldout_accuracy": 0.30},
        {"model": "answer-full-s0", "step": 100, "heldout_accuracy": 0.50},
        {"model": "theorem-full-s0", "step": 50, "heldout_accuracy": 0.20},
        {"model": "theorem-full-s0", "step": 100, "heldout_accuracy": 0.40},
    ])
    matched = matched_steps(curves, models_table(["answer-full-s0", "theorem-full-s0"])).set_index("model")
    assert matched.loc["answer-full-s0", "step"] == 100 and matched.loc["theorem-full-s0", "step"] == 100
    curves.loc[0, "heldout_accuracy"] = 0.45
    matched = matched_steps(curves, models_table(["answer-full-s0", "theorem-full-s0"])).set_index("model")
    assert matched.loc["answer-full-s0", "step"] == 50 and matched.loc["answer-full-s0", "matched_to"] == 0.40


def test_matched_table_reads_the_matched_checkpoints_only():
    early = predictions_for("answer-full-s0", np.ones(20), {"paraphrase": np.ones(20)}, step=50, final=False)
    late = predictions_for("answer-full-s0", np.ones(20), {"paraphrase": np.zeros(20)}, step=100)
    theorem = predictions_for("theorem-full-s0", np.ones(20), {"paraphrase": np.ones(20)}, step=100)
    facts = models_table(["answer-full-s0", "theorem-full-s0"])[["model", "target", "params", "seed"]]
    frame = pd.concat([early, late, theorem]).merge(facts, on="model")
    matched = pd.DataFrame([{"model": "answer-full-s0", "target": "answer", "seed": 0, "step": 50,
                             "heldout_accuracy": 1.0, "matched_to": 1.0},
                            {"model": "theorem-full-s0", "target": "theorem", "seed": 0, "step": 100,
                             "heldout_accuracy": 1.0, "matched_to": 1.0}])
    table = matched_table(frame, matched).set_index(["target", "kind"])
    assert table.loc[("answer", "paraphrase"), "robustness"] == pytest.approx(1.0)  # the early checkpoint's
    assert table.loc[("answer", "paraphrase"), "steps"] == "50"


def test_template_table_is_the_mean_over_each_templates_instances():
    frame = predictions_for("theorem-full-s0", np.array([1, 0, 1, 1]), {}).assign(target="theorem",
                                                                                  params="full", seed=0)
    templates = pd.DataFrame({"problem_id": ["o0", "o1", "o2", "o3"], "template": ["a", "a", "b", "b"]})
    table = template_table(frame, templates).set_index("template")
    assert table.loc["a", "accuracy"] == 0.5 and table.loc["b", "accuracy"] == 1.0
    assert table.loc["a", "n"] == 2


def test_matched_steps_take_only_steps_with_test_predictions():
    """Validation every 50 steps, test predictions (the curve files) every 100: a match at 50 would have nothing
    to read, so the first scored step that reaches the level is taken."""
    curves = pd.DataFrame([{"model": m, "step": s, "heldout_accuracy": a} for m, points in {
        "answer-full-s0": {50: 0.6, 100: 0.6, 150: 0.7}, "theorem-full-s0": {50: 0.6, 100: 0.7, 150: 0.7}}.items()
        for s, a in points.items()])
    models = models_table(["answer-full-s0", "theorem-full-s0"])
    unrestricted = matched_steps(curves, models).set_index("model")["step"].to_dict()
    assert unrestricted == {"answer-full-s0": 150, "theorem-full-s0": 100}
    scored = pd.DataFrame([{"model": m, "step": s} for m in models["model"] for s in (100, 200)])
    matched = matched_steps(curves, models, scored=scored).set_index("model")
    assert matched["step"].to_dict() == {"answer-full-s0": 100, "theorem-full-s0": 100}
    assert (matched["matched_to"] == 0.6).all()  # the best accuracy answer-SFT reached at a scored step
