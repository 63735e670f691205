"""Each real loader on the real files in ../shared/data (skipped where absent) and on CHAMP.

Every item must load, every reference answer must grade correct against itself (as a model
would write it) and a wrong answer must not.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from tsft.tasks.grading import grade, to_number
from tsft.tasks.loaders import load

from tests.conftest import shared_file


def wrong_answer(answer: str, answer_type: str | None = None) -> str:
    """A certainly different answer of the same form."""
    if answer_type == "bool" or answer in ("True", "False"):
        return "False" if answer == "True" else "True"
    if answer_type == "option" or re.fullmatch(r"\([a-e]\)", answer):
        return "(a)" if answer != "(a)" else "(b)"
    if answer.startswith("["):
        items = json.loads(answer)
        return json.dumps([items[0] + max(1, abs(items[0])), *items[1:]]) if items else "[1]"
    number = to_number(answer)
    if number is not None:
        return str(number + max(1.0, abs(number)))
    return f"({answer}) + 1"


@pytest.fixture(scope="module")
def math500():
    return load("math", shared_file("math500/test.jsonl"))


def test_math500_loads_all_and_grades_itself(math500):
    assert len(math500.problems) == 500 and not math500.skipped
    assert {p.meta["layout"] for p in math500.problems} == {"math500"}
    assert Counter(p.meta["level"] for p in math500.problems).keys() <= {1, 2, 3, 4, 5}
    assert len({p.id for p in math500.problems}) == 500
    self_fails = [p.answer for p in math500.problems if not grade(f"So $\\boxed{{{p.answer}}}$.", p.answer)]
    assert not self_fails, self_fails[:5]
    wrong_passes = [p.answer for p in math500.problems if grade(f"\\boxed{{{wrong_answer(p.answer)}}}", p.answer)]
    assert not wrong_passes, wrong_passes[:5]


def test_math500_answer_is_the_last_boxed_of_its_solution(math500):
    from tsft.tasks.grading import last_boxed

    rows = [json.loads(line) for line in shared_file("math500/test.jsonl").read_text().splitlines()]
    agree = sum(grade(last_boxed(r["solution"]) or "", r["answer"]) for r in rows)
    assert agree >= 490  # the original layout's rule recovers MATH-500's own answer field


def test_gsm8k_loads_all_and_grades_itself():
    result = load("gsm8k", shared_file("gsm8k/test.jsonl"))
    assert len(result.problems) == 1319 and not result.skipped
    for problem in result.problems:
        assert "<<" not in " ".join(problem.steps) and problem.steps
        assert grade(f"The total is {problem.answer}.\n#### {problem.answer}", problem.answer)
        assert not grade(f"#### {wrong_answer(problem.answer)}", problem.answer)
    assert result.problems[0].answer == "18"


def test_theoremqa_loads_all_with_theorem_definitions():
    result = load("theoremqa", shared_file("theoremqa/theoremqa_test.json"))
    problems = result.problems
    assert len(problems) == 800 and not result.skipped
    math = [p for p in problems if p.meta["field"] == "Math"]
    assert len(math) == 442
    assert sum(p.meta["needs_picture"] for p in math) == 18
    assert all(len(p.theorems) == 1 and p.theorems[0].statement for p in problems)
    assert all(row["defined"] for row in result.theorems)
    for problem in problems:
        kind = problem.meta["answer_type"]
        assert grade(problem.answer, problem.answer, answer_type=kind), problem.id
        assert not grade(wrong_answer(problem.answer, kind), problem.answer, answer_type=kind), problem.id


def test_champ_loads_problems_concepts_and_step_citations():
    pytest.importorskip("champ_dataset", reason="champ-dataset is a declared dependency; install tsft")
    result = load("champ", None)
    assert len(result.problems) == 270 and not result.skipped
    assert len(result.theorems) == 89
    assert sum(1 for t in result.theorems if t["name"]) == 39
    cited = [a for p in result.problems for a in p.theorems]
    assert cited and all(a.theorem_id.startswith("C_") and a.step_index is not None for a in cited)
    for problem in result.problems:
        assert all(0 <= a.step_index < len(problem.steps) for a in problem.theorems)
        assert "@@" not in problem.text
        assert grade(f"\\boxed{{{problem.answer}}}", problem.answer), problem.answer
