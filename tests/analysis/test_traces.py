"""Step-level scoring of theorem applications on hand-written outputs with known first errors."""

import json
import math

import pandas as pd
import pytest
from tsft.analysis.traces import parse_step, score_output, score_predictions, score_steps, step_value, trace_table

TRACE = [{"theorem_id": "triangle_angle_sum", "name": "triangle angle sum theorem", "statement": "...",
          "premises": [{"text": "VQW is a triangle", "holds": True}, {"text": "50 + 60 < 180", "holds": True}],
          "bindings": [{"slot": "X", "object": "angle V", "value": 50}, {"slot": "Y", "object": "angle Q", "value": 60},
                       {"slot": "Z", "object": "angle W", "value": None}],
          "exec_steps": ["180 - 50 = 130", "130 - 60 = 70"], "conclusion": "angle W = 70"}]
STEPS = ["180 - 50 = 130", "130 - 60 = 70"]
HEAD = "Theorem: triangle angle sum theorem. The interior angles X, Y, Z of any triangle satisfy X + Y + Z = 180."
COND = "Cond: VQW is a triangle (true); 50 + 60 < 180 (true)"
MAP = "Map: X = angle V = 50; Y = angle Q = 60; Z = angle W"


def _theorem(head=HEAD, cond=COND, mapping=MAP, steps="180 - 50 = 130; 130 - 60 = 70", answer="70") -> str:
    return "\n".join([head, cond, mapping, f"Exec: {steps}", f"So angle W = {answer}", f"Answer: {answer}"])


@pytest.mark.parametrize(("output", "correct", "first"), [
    (_theorem(), True, "none"),
    (_theorem(head="Theorem: exterior angle theorem. An exterior angle equals the two remote ones."), True, "naming"),
    (_theorem(cond="Cond: VQW is a triangle (true)"), True, "premise"),
    (_theorem(cond="Cond: VQW is a triangle (true); 50 + 60 < 180 (false)"), True, "premise"),
    (_theorem(mapping="Map: X = angle V = 50; Y = angle Q = 70; Z = angle W"), False, "binding"),
    (_theorem(steps="180 - 50 = 130; 130 - 50 = 80", answer="80"), False, "plan"),
    (_theorem(steps="180 - 50 = 120; 120 - 60 = 60", answer="60"), False, "arithmetic"),
    (_theorem(), False, "answer"),
    ("Answer: 70", True, "format"),
    ("", False, "format"),
])
def test_first_error_is_the_first_part_that_fails(output, correct, first):
    assert score_output(output, "theorem", TRACE, STEPS, correct)["first_error"] == first


def test_order_of_commutative_operands_and_symmetric_slots_is_not_an_error():
    output = _theorem(cond="Cond: VQW is a triangle (true); 60 + 50 < 180 (true)",
                      mapping="Map: X = angle Q = 60; Y = angle V = 50; Z = angle W")
    scores = score_output(output, "theorem", TRACE, STEPS, True)
    assert (scores["premises"], scores["bindings"], scores["first_error"]) == (1.0, 1.0, "none")
    assert score_steps(["60 * 2 = 120"], ["2 * 60 = 120"])["exec_plan"] == 1.0
    assert score_steps(["10 - 2 = 8"], ["2 - 10 = -8"])["exec_plan"] == 0.0  # subtraction does not commute


def test_a_slip_is_counted_once_later_steps_are_judged_on_what_the_output_computed():
    scores = score_steps(["180 - 50 = 120", "120 - 60 = 60"], STEPS)
    assert scores["exec_arithmetic"] == 0.5      # the first step's arithmetic is wrong, the second's right
    assert scores["exec_plan"] == 1.0            # both take the reference's step given the previous ones
    assert scores["step_error"] == "arithmetic"


def test_scores_are_shares_and_malformed_parts_are_low_scores_not_crashes():
    scores = score_output(_theorem(cond="Cond: ???", mapping="Map: nonsense; X ==", steps="what; 3 +"), "theorem",
                          TRACE, STEPS, False)
    assert scores["premises"] == 0 and scores["bindings"] == 0 and scores["first_error"] == "premise"
    assert scores["steps"] == 2 and scores["exec_arithmetic"] == 0.0
    half = score_output(_theorem(mapping="Map: X = angle V = 50; Y = angle P = 60; Z = angle W"), "theorem", TRACE,
                        STEPS, True)
    assert half["bindings"] == pytest.approx(2 / 3)


def test_solution_outputs_are_scored_from_the_plan_on():
    right = score_output("\n180 - 50 = 130\n130 - 60 = 70\nAnswer: 70", "solution", TRACE, STEPS, True)
    assert right["first_error"] == "none" and math.isnan(right["named_right"])
    short = score_output("\n180 - 50 = 130\nAnswer: 130", "solution", TRACE, STEPS, False)
    assert short["first_error"] == "plan"
    assert score_output("Answer: 70", "solution", TRACE, STEPS, True)["first_error"] == "format"


@pytest.mark.parametrize(("text", "value"), [("12 mod 7 = 5", 5), ("7 // 2 = 3", 3), ("sqrt 25 = 5", 5),
                                             ("20 / 5 = 4", 4), ("3 x 4 = 12", 12)])
def test_steps_parse_and_evaluate(text, value):
    op, operands, result = parse_step(text)
    assert step_value(op, operands) == value == result
    assert step_value("/", (1.0, 0.0)) is None and parse_step("the answer is 5") is None


def test_tables_group_by_target_and_kind():
    problems = pd.DataFrame([{"problem_id": pid, "trace": json.dumps(TRACE), "steps": json.dumps(STEPS)}
                             for pid in ("o0", "o0~paraphrase")])
    base = {"params": "full", "seed": 0, "step": 10, "final": True, "original_id": "o0"}
    predictions = pd.DataFrame([
        {**base, "model": "theorem-full-s0", "target": "theorem", "kind": "original", "problem_id": "o0",
         "output": _theorem(), "correct": True},
        {**base, "model": "theorem-full-s0", "target": "theorem", "kind": "paraphrase", "problem_id": "o0~paraphrase",
         "output": _theorem(head="Theorem: exterior angle theorem. x."), "correct": False},
        {**base, "model": "answer-full-s0", "target": "answer", "kind": "original", "problem_id": "o0",
         "output": " Answer: 70", "correct": True}])
    scored = score_predictions(predictions, problems)
    assert list(scored["target"]) == ["theorem", "theorem"]  # answer-style outputs have no trace to score
    table = trace_table(scored, ["paraphrase"]).set_index("kind")
    assert table.loc["original", "first_none"] == 1.0 and table.loc["surface", "first_naming"] == 1.0


def test_checkpoint_table_keeps_seeds_apart():
    problems = pd.DataFrame([{"problem_id": "o0", "trace": json.dumps(TRACE), "steps": json.dumps(STEPS)}])
    rows = [{"model": f"theorem-full-s{seed}", "target": "theorem", "params": "full", "seed": seed, "step": 10,
             "final": True, "original_id": "o0", "kind": "original", "problem_id": "o0",
             "output": _theorem(answer="70" if seed == 0 else "71"), "correct": seed == 0} for seed in (0, 1)]
    scored = score_predictions(pd.DataFrame(rows), problems)
    table = trace_table(scored, [], by=("model", "target", "params", "seed")).set_index("model")
    assert table.loc["theorem-full-s0", "first_none"] == 1.0 and table.loc["theorem-full-s1", "first_answer"] == 1.0


@pytest.mark.parametrize("text", ["3 + . = 5", ". * 4 = 12", "sqrt . = 5", "1.2.3 - 1 = 0", "2 + 2 = ."])
def test_a_step_whose_numbers_do_not_parse_is_a_format_error_not_a_crash(text):
    """Seen in a quick run: an undertrained checkpoint wrote '.' where a number goes."""
    assert parse_step(text) is None
    scored = score_output(f"{text}\nAnswer: 5", "solution", TRACE, STEPS, False)
    assert scored["first_error"] in {"format", "plan"}
