"""analysis.vision: position-group maps (normalized of means), the figure gap, and the theorem-minus-answer
reading difference, against hand sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.vision import figure_gaps, figure_probe_peaks, group_map, reading_difference

PLANTED = ("mlp_out", "last", 1)


def groups_frame(rng, models=("theorem-full-s0", "answer-full-s0"), pairs=30, gap=1.0):
    """Pairs whose clean run beats the corrupt one by `gap`; patching restores 0.2, or 0.6 at the planted site of
    theorem-SFT."""
    rows = []
    for model in models:
        for pair in range(pairs):
            clean, corrupt = gap + rng.normal(0, 0.1), rng.normal(0, 0.1)
            for layer in (0, 1):
                for component in ("attn_out", "mlp_out"):
                    for group in ("image", "text", "last"):
                        share = 0.6 if model.startswith("theorem") and (component, group, layer) == PLANTED else 0.2
                        value = corrupt + share * (clean - corrupt) + rng.normal(0, 0.05)
                        rows.append({"model": model, "pair_id": f"p{pair}", "layer": layer, "component": component,
                                     "group": group, "value": value, "clean": clean, "corrupt": corrupt})
    return pd.DataFrame(rows)


MODELS = pd.DataFrame({"model": ["theorem-full-s0", "answer-full-s0", "base"], "target": ["theorem", "answer", None],
                       "params": ["full", "full", None], "seed": [0, 0, None]})


def cell(frame, model, layer, component, group):
    return frame[(frame["model"] == model) & (frame["layer"] == layer) & (frame["component"] == component)
                 & (frame["group"] == group)]


def test_group_map_is_the_normalized_of_means_with_an_interval_around_it():
    frame = groups_frame(np.random.default_rng(0))
    table = group_map(frame)
    assert len(table) == 2 * 2 * 2 * 3
    for _, row in table.iterrows():
        mine = cell(frame, row["model"], row["layer"], row["component"], row["group"])
        hand = (mine["value"].sum() - mine["corrupt"].sum()) / (mine["clean"].sum() - mine["corrupt"].sum())
        assert row["effect"] == pytest.approx(hand)
        assert row["ci_low"] < row["effect"] < row["ci_high"] and row["n"] == 30


def test_one_pair_with_a_vanishing_gap_does_not_dominate():
    frame = groups_frame(np.random.default_rng(3))
    tiny = frame["pair_id"] == "p0"
    frame.loc[tiny, "clean"] = frame.loc[tiny, "corrupt"] + 1e-5  # the figure barely moves this pair
    frame.loc[tiny, "value"] = frame.loc[tiny, "corrupt"] + 0.5  # so its own ratio would be 50000
    row = group_map(frame).iloc[0]
    assert abs(row["effect"]) < 1.0


def test_the_figure_gap_says_whether_the_read_token_depends_on_the_figure():
    rng = np.random.default_rng(4)
    frame = pd.concat([groups_frame(rng, ("theorem-full-s0",)), groups_frame(rng, ("answer-full-s0",), gap=0.0)])
    gaps = figure_gaps(frame).set_index("model")
    assert gaps.loc["theorem-full-s0", "ci_low"] > 0.8
    assert gaps.loc["answer-full-s0", "ci_low"] < 0 < gaps.loc["answer-full-s0", "ci_high"]


def test_reading_difference_is_paired_and_finds_the_planted_site():
    frame = groups_frame(np.random.default_rng(1))
    frame = frame[~((frame["model"] == "answer-full-s0") & (frame["pair_id"] == "p0"))]  # p0 only read by one model
    table = reading_difference(frame, MODELS)
    planted = table[(table["component"] == "mlp_out") & (table["group"] == "last") & (table["layer"] == 1)].iloc[0]
    assert planted["difference"] == pytest.approx(0.4, abs=0.05) and planted["ci_low"] > 0.3 and planted["n"] == 29
    paired = frame[frame["pair_id"] != "p0"]
    for _, row in table.iterrows():
        a, b = (cell(paired, m, row["layer"], row["component"], row["group"]) for m in ("theorem-full-s0",
                                                                                           "answer-full-s0"))
        hand = [(x["value"].sum() - x["corrupt"].sum()) / (x["clean"].sum() - x["corrupt"].sum()) for x in (a, b)]
        assert row["difference"] == pytest.approx(hand[0] - hand[1])
    others = table.drop(planted.name)
    assert (others["ci_low"] < 0.05).all() and (others["ci_high"] > -0.05).all()  # nothing else was planted


def test_empty_or_unpaired_inputs_give_empty_tables():
    assert group_map(pd.DataFrame()).empty and figure_gaps(pd.DataFrame()).empty
    frame = groups_frame(np.random.default_rng(2), models=("theorem-full-s0",))
    assert reading_difference(frame, MODELS).empty  # no answer-full run to compare with
    assert figure_probe_peaks(pd.DataFrame()).empty
