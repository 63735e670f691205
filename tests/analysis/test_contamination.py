"""Verbatim test problems and canary strings in generations are found; template-mates and own problems are not."""

import pandas as pd
from tsft.analysis.contamination import contamination_table, scan
from tsft.tasks.guards import canary

PROBLEMS = pd.DataFrame([
    {"problem_id": "o0", "original_id": "o0", "text": "Max draws triangle VQW. Angle V is 50 degrees and angle Q is "
                                                      "60 degrees. What is the interior angle at W in degrees?"},
    {"problem_id": "o0~para", "original_id": "o0", "text": "Triangle VQW is drawn by Max. Its angle V measures 50 "
                                                           "degrees and angle Q 60. Find the interior angle at W."},
    {"problem_id": "o1", "original_id": "o1", "text": "Ann draws triangle KLW. Angle K is 35 degrees and angle L is "
                                                      "85 degrees. What is the interior angle at W in degrees?"},
    {"problem_id": "o2", "original_id": "o2", "text": "Zoe has a rectangular garden ZCXV. Side ZC is 5 mm long and "
                                                      "side CX is 6 mm long. What is the area of the garden?"},
])


def _predictions(outputs: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"model": "m", "step": 10, "problem_id": pid, "original_id": pid.split("~")[0],
                          "output": text} for pid, text in outputs.items()])


def test_a_reproduced_other_test_problem_is_flagged_and_named():
    leaked = "Answer: 70\nZoe has a rectangular garden ZCXV. Side ZC is 5 mm long and side CX is 6 mm long. What"
    scanned = scan(_predictions({"o0": leaked}), PROBLEMS).iloc[0]
    assert scanned["flagged"] and scanned["reproduces"] == "o2" and scanned["overlap"] > 0.6


def test_own_problem_and_template_mates_are_not_flagged():
    own = PROBLEMS.loc[0, "text"] + " Answer: 70"                  # restating the question asked is not a leak
    mate = "So the interior angle at W in degrees is 70. Answer: 70"  # shared template wording with o1
    table = scan(_predictions({"o0": own, "o0~para": PROBLEMS.loc[0, "text"], "o1": mate}), PROBLEMS)
    assert not table["flagged"].any()
    assert table["overlap"].max() < 0.5


def test_table_counts_flags_and_canary_hits():
    mark = canary(["x"])
    outputs = {"o0": f"Answer: 70 {mark}", "o1": PROBLEMS.loc[3, "text"], "o2": "Answer: 30"}
    table = contamination_table(_predictions(outputs), PROBLEMS).iloc[0]
    assert (table["outputs"], table["flagged"], table["canary_hits"]) == (3, 1, 1)
    assert table["example_output_of"] == "o1" and table["example_reproduces"] == "o2"
