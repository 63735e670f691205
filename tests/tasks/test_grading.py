"""Answer extraction and grading."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from tsft.tasks.grading import answer_type_of, extract_answer, grade, last_boxed

from tsft import tasks


@pytest.mark.parametrize(("text", "expected"), [
    ("so the answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
    ("first \\boxed{3} then \\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("Angle R is 70 degrees.\nAnswer: 70", "70"),
    ("Janet sells 9 eggs.\n#### 18", "18"),
    ("I think it is 12, no wait, 1,000.", "1,000"),
    ("nothing here", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_last_boxed_handles_nesting_and_unclosed():
    assert last_boxed("\\boxed{\\frac{a}{b^{2}}}") == "\\frac{a}{b^{2}}"
    assert last_boxed("\\boxed{oops") is None
    assert last_boxed("\\boxed 5$") == "5"


@pytest.mark.parametrize(("prediction", "reference", "expected"), [
    ("\\boxed{0.5}", "\\frac{1}{2}", True),
    ("The answer is: 18", "18", True),
    ("#### 18.0", "18", True),
    ("17", "18", False),
    ("\\boxed{\\left(3, \\frac{\\pi}{2}\\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("\\boxed{(3, \\pi)}", "\\left( 3, \\frac{\\pi}{2} \\right)", False),
    ("True", "True", True),
    ("yes", "True", True),
    ("False", "True", False),
    ("(c)", "(c)", True),
    ("C", "(c)", True),
    ("(b)", "(c)", False),
    ("[0, 5]", "[0, 5]", True),
    ("[0.334, 0.25]", "[0.333, 0.25]", True),
    ("[0, 5, 1]", "[0, 5]", False),
    ("3.141", "3.14159", True),  # float reference: 1% relative tolerance
    ("3.3", "3.14159", False),
    ("18.5", "18", False),  # integer reference: exact
    ("", "18", False),
    ("x^2+2x+1", "(x+1)^2", True),
])
def test_grade(prediction, reference, expected):
    assert grade(prediction, reference) is expected


def test_grade_uses_answer_type_when_given():
    assert grade("[1, 2]", "[1, 2]", answer_type="list of integer")
    assert not grade("1", "True", answer_type="bool")


def test_answer_types():
    assert [answer_type_of(x) for x in ["True", "(a)", "[1, 2]", "12", "0.5", "\\frac{1}{2}"]] == [
        "bool", "option", "list", "integer", "float", "expression"]


def test_package_exposes_grade():
    assert tasks.grade("\\boxed{4}", "4") and not tasks.grade("\\boxed{5}", "4")


def test_grading_is_safe_in_threads():
    cases = [("\\boxed{\\frac{1}{2}}", "0.5", True), ("\\boxed{\\sqrt{2}}", "1.41", False)] * 20
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: grade(c[0], c[1]), cases))
    assert results == [c[2] for c in cases]
