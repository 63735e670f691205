"""The neutral corpus: arithmetic facts are true and in range; no problem is paired with an answer."""

from __future__ import annotations

import math
import random

import pytest
from tsft.training.corpus import arithmetic_fact, neutral_documents

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
       "mod": lambda a, b: a % b, "//": lambda a, b: a // b}


@pytest.mark.parametrize("max_operand", [12, 999])
def test_arithmetic_facts_are_true_and_in_range(max_operand):
    rng = random.Random(0)
    for _ in range(2000):
        fact = arithmetic_fact(rng, max_operand)
        left, result = fact.split(" = ")
        parts = left.split()
        if parts[0] == "sqrt":
            assert math.isqrt(int(parts[1])) ** 2 == int(parts[1]) and math.isqrt(int(parts[1])) == int(result)
            continue
        a, op, b = int(parts[0]), parts[1], int(parts[2])
        assert OPS[op](a, b) == int(result), fact
        if op in "+-":
            assert max(a, b) <= max_operand
        elif op in ("*", "mod", "//"):
            assert b <= min(40, max_operand)


def test_documents_hold_no_solutions():
    docs = list(neutral_documents(n_facts=80, n_problems=40, seed=1))
    problems = [d for d in docs if d.startswith("Problem:")]
    assert len(problems) == 40
    assert not any("Answer" in d or "Solution" in d or "Exec" in d for d in problems)
    assert sum(d.startswith("Theorem:") for d in docs) >= 20  # every statement at least once
