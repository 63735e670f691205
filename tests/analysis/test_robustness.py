"""Conditional consistency and effective robustness on planted predictions whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.accuracy import with_facts
from tsft.analysis.robustness import consistency_table, effective_robustness_table

from tests.analysis.conftest import models_table, predictions_for


def test_consistency_counts_only_what_was_solved_and_tells_swapped_solutions_apart():
    # same accuracy on originals and on paraphrases (robustness 1), but the paraphrases it solves are the
    # originals it failed: consistency 0; the other model keeps exactly what it solved: consistency 1
    original = np.array([1, 1, 0, 0], float)
    swapped = predictions_for("theorem-full-s0", original, {"paraphrase": 1 - original})
    kept = predictions_for("answer-full-s0", original, {"paraphrase": original.copy()})
    frame = with_facts(pd.concat([swapped, kept]), models_table(["theorem-full-s0", "answer-full-s0"]))
    table = consistency_table(frame).set_index(["model", "kind"])
    assert table.loc[("theorem-full-s0", "paraphrase"), "consistency"] == 0.0
    assert table.loc[("answer-full-s0", "paraphrase"), "consistency"] == 1.0
    assert table.loc[("answer-full-s0", "surface"), "pairs"] == 2  # two solved originals, one version each


def test_effective_robustness_has_one_point_per_graded_step():
    rng = np.random.default_rng(0)
    steps = [predictions_for("theorem-full-s0", (rng.random(200) < p).astype(float),
                             {"paraphrase": (rng.random(200) < p / 2).astype(float),
                              "out_of_range": np.zeros(200)}, step=s, final=s == 300)
             for s, p in ((100, 0.2), (200, 0.5), (300, 0.8))]
    frame = with_facts(pd.concat(steps), models_table(["theorem-full-s0"]))
    table = effective_robustness_table(frame)
    assert list(table["step"]) == [100, 200, 300] and list(table["final"]) == [False, False, True]
    assert table["original"].to_numpy() == pytest.approx([0.2, 0.5, 0.8], abs=0.08)
    assert table["surface"].to_numpy() == pytest.approx([0.1, 0.25, 0.4], abs=0.08)  # out_of_range not pooled
