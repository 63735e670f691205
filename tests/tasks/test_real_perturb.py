"""Perturbations of real text: applied only where safe, skipped with a reason elsewhere."""

from __future__ import annotations

import re

import pytest
from tsft.tasks.loaders import load
from tsft.tasks.perturbing import NotApplicable
from tsft.tasks.real_perturb import NAME_GROUPS, perturb_real
from tsft.tasks.schema import Problem

from tests.conftest import shared_file


def problem(text: str, answer: str = "5", steps: tuple[str, ...] = ()) -> Problem:
    return Problem(id="p", source="test", text=text, answer=answer, steps=steps)


def test_entity_rename_is_consistent_and_keeps_the_group():
    p = problem("Janet has 3 eggs. Janet gives Tom 1. How many does Janet keep?", steps=("Janet: 3 - 1 = 2",))
    result = perturb_real(p, "entity_rename", seed=1)
    new = result.problem.text
    assert "Janet" not in new and "Tom" not in new and result.problem.answer == "5" and not result.answer_changed
    female, male, _ = NAME_GROUPS
    names = [n for n in re.findall(r"\b[A-Z][a-z]+\b", new) if n in female + male]
    assert len(names) == 4 and names[0] == names[1] == names[3] and names[0] in female and names[2] in male
    assert result.problem.steps[0].startswith(names[0])
    with pytest.raises(NotApplicable, match="no listed person name"):
        perturb_real(problem("A train travels 5 miles."), "entity_rename")
    with pytest.raises(NotApplicable, match="in the answer"):
        perturb_real(problem("Who is taller, Ann or Bob?", answer="Ann"), "entity_rename")


def test_distractor_goes_before_the_question_outside_math():
    p = problem("Let $x = 3.5$. Then $y = 2x$. What is $y$?")
    text = perturb_real(p, "distractor", seed=0).problem.text
    assert text.endswith("What is $y$?") and "$x = 3.5$" in text and re.search(r"\d", text.split("$y = 2x$.")[1])
    single = perturb_real(problem("What is $1+1$?"), "distractor").problem.text
    assert single.endswith("What is $1+1$?") and len(single) > len("What is $1+1$?")
    with pytest.raises(NotApplicable, match="Asymptote"):
        perturb_real(problem("[asy]draw((0,0)--(1,1));[/asy] Find $x$."), "distractor")


def test_variable_rename_is_consistent_inside_math_only():
    p = problem("If $f(x) = \\frac{3x-2}{x-2}$, find $f(-2)$ for a real $x$.", answer="2",
                steps=("We have $f(-2) = \\frac{-8}{-4}$.",))
    result = perturb_real(p, "variable_rename", seed=3).problem
    math = re.findall(r"\$.+?\$", result.text)
    letters = {m for seg in math for m in re.findall(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])", seg)}
    assert "x" not in letters and "f" not in letters and len(letters) == 2
    assert result.text.count("$") == p.text.count("$")
    assert " a real " in result.text  # the article outside the math is untouched
    renamed_f = re.match(r"If \$(\w)\(", result.text).group(1)
    assert result.steps[0].startswith(f"We have ${renamed_f}(-2)")


@pytest.mark.parametrize(("text", "answer", "reason"), [
    ("Ann pays $5 for tea and $3 for cake.", "8", "prose"),
    ("Compute $\\int_0^1 t^2 dt$.", "1/3", "multi-letter run"),
    ("Find $x$ if $2x = 4$.", "x=2", "in the answer"),
    ("Let $n$ be even. Is n prime?", "False", "outside the math"),
    ("What is $\\mathbb{R}$ with $R = 3$?", "3", "text"),
    ("No math here.", "1", "no LaTeX math"),
])
def test_variable_rename_skips_unsafe_items(text, answer, reason):
    with pytest.raises(NotApplicable, match=reason):
        perturb_real(problem(text, answer), "variable_rename")


def test_real_perturbations_on_math500_keep_latex_balanced():
    problems = load("math", shared_file("math500/test.jsonl")).problems
    applied = 0
    for p in problems:
        try:
            new = perturb_real(p, "variable_rename").problem
        except NotApplicable:
            continue
        applied += 1
        assert new.text.count("$") == p.text.count("$") and new.text.count("{") == p.text.count("{")
        assert new.answer == p.answer
    assert applied >= 100
