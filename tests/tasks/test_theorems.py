"""Every theorem's rule against an independent computation, and the shape of its trace."""

from __future__ import annotations

import itertools
import math
import random
import re

import pytest
import sympy
from tsft.tasks.world.catalogue import DOMAINS, THEOREMS, siblings
from tsft.tasks.world.theorem import Exec


def _roots(v):
    x = sympy.symbols("x")
    return sympy.roots(v["a"] * x**2 - v["b"] * x + v["c"], x)  # {root: multiplicity}


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def _balanced_max_load(m, n):
    """Brute force: the smallest possible load of the fullest box over every distribution."""
    best = m
    for cuts in itertools.combinations(range(m + n - 1), n - 1):  # stars and bars
        bounds = (-1, *cuts, m + n - 1)
        best = min(best, max(b - a - 1 for a, b in itertools.pairwise(bounds)))
    return best


INDEPENDENT = {
    "triangle_angle_sum": lambda v: 180 - v["a"] - v["b"],
    "exterior_angle": lambda v: 180 - (180 - v["a"] - v["b"]),
    "rectangle_area": lambda v: len(list(itertools.product(range(v["a"]), range(v["b"])))),
    "rectangle_perimeter": lambda v: v["a"] + v["b"] + v["a"] + v["b"],
    "pythagorean": lambda v: round(math.hypot(v["a"], v["b"])),
    "linear_equation": lambda v: int(sympy.solve(v["a"] * sympy.Symbol("x") + v["b"] - v["c"])[0]),
    "vieta_sum": lambda v: int(sum(r * k for r, k in _roots(v).items())),
    "vieta_product": lambda v: int(math.prod(r**k for r, k in _roots(v).items())),
    "arithmetic_nth_term": lambda v: [v["a"] + i * v["d"] for i in range(v["n"])][-1],
    "arithmetic_series": lambda v: sum(v["a"] + i * v["d"] for i in range(v["n"])),
    "gcd_euclid": lambda v: math.gcd(v["a"], v["b"]),
    "lcm_gcd": lambda v: math.lcm(v["a"], v["b"]),
    "divisor_count": lambda v: len(_divisors(v["n"])),
    "divisor_sum": lambda v: sum(_divisors(v["n"])),
    "fermat_little": lambda v: pow(v["a"], v["k"], v["p"]),
    "combinations": lambda v: sum(1 for _ in itertools.combinations(range(v["n"]), v["k"])),
    "arrangements": lambda v: math.perm(v["n"], v["k"]),
    "sum_rule": lambda v: len(list(itertools.chain(range(v["a"]), range(v["b"])))),
    "product_rule": lambda v: v["a"] * v["b"],
    "pigeonhole": lambda v: -(-v["m"] // v["n"]),
}

STEP = re.compile(r"^(-?\d+) (\+|-|\*|/|mod|//) (-?\d+) = (-?\d+)$")
SQRT = re.compile(r"^sqrt (\d+) = (\d+)$")


def check_step(step: str) -> int:
    """Evaluate one Exec step independently; it must be exactly one operation and correct."""
    if m := SQRT.match(step):
        value, root = int(m.group(1)), int(m.group(2))
        assert root * root == value, step
        return root
    m = STEP.match(step)
    assert m, f"not a single-operation step: {step!r}"
    a, op, b, result = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
    expected = {"+": a + b, "-": a - b, "*": a * b, "mod": a % b, "//": a // b}.get(op)
    if op == "/":
        assert b != 0 and a % b == 0, f"inexact division {step!r}"
        expected = a // b
    assert result == expected, step
    return result


def test_catalogue_size_and_domains():
    assert len(THEOREMS) >= 12
    assert len(set(DOMAINS)) >= 4
    assert {"geometry", "algebra", "number_theory", "combinatorics"} <= set(DOMAINS)
    assert len({t.id for t in THEOREMS}) == len(THEOREMS)
    assert set(INDEPENDENT) == {t.id for t in THEOREMS}, "every theorem needs an independent check here"


@pytest.mark.parametrize("theorem", THEOREMS, ids=lambda t: t.id)
@pytest.mark.parametrize("number_range", ["train", "heldout"])
def test_rule_matches_independent_computation(theorem, number_range):
    rng = random.Random(f"rule/{theorem.id}/{number_range}")
    for _ in range(60):
        values = theorem.sample(rng, number_range)
        answer, steps = theorem.solve(values)
        assert answer == INDEPENDENT[theorem.id](values), values
        assert steps, "every rule shows at least one Exec step"
        results = [check_step(s) for s in steps]
        assert final_value(steps[-1], results[-1]) == answer


def final_value(last_step: str, result: int) -> int:
    """The value a trace ends on: the last result, or b for Euclid's closing 'a mod b = 0'."""
    m = STEP.match(last_step)
    if m and m.group(2) == "mod" and result == 0:
        return int(m.group(3))
    return result


@pytest.mark.parametrize("theorem", [t for t in THEOREMS if t.id == "pigeonhole"], ids=lambda t: t.id)
def test_pigeonhole_against_brute_force(theorem):
    rng = random.Random("pigeonhole-brute")
    for _ in range(40):
        values = theorem.sample(rng, "train")
        assert theorem.solve(values)[0] == _balanced_max_load(values["m"], values["n"])


@pytest.mark.parametrize("theorem", THEOREMS, ids=lambda t: t.id)
def test_trace_has_cond_map_exec(theorem):
    rng = random.Random(f"trace/{theorem.id}")
    values = theorem.sample(rng, "train")
    letters = {role: chr(ord("P") + i) for i, role in enumerate(theorem.family.letter_roles)}
    answer, application = theorem.apply(values, letters)
    assert application.premises and all(p.holds for p in application.premises)  # Cond
    unknown = [b for b in application.bindings if b.value is None]
    assert len(unknown) == 1  # Map: one unknown, the rest bound to the problem's values
    assert {b.value for b in application.bindings if b.value is not None} <= set(values.values())
    assert application.exec_steps  # Exec
    assert application.conclusion.endswith(f"= {answer}")
    assert "{" not in application.conclusion and all("{" not in p.text for p in application.premises)


def test_premise_checks_can_fail():
    fermat = next(t for t in THEOREMS if t.id == "fermat_little")
    _, application = fermat.apply({"a": 14, "k": 5, "p": 7}, {})
    assert [p.holds for p in application.premises] == [True, False]  # 7 divides 14
    _, application = fermat.apply({"a": 3, "k": 5, "p": 9}, {})
    assert application.premises[0].holds is False  # 9 is not prime


def test_exec_refuses_inexact_steps():
    ex = Exec()
    with pytest.raises(ValueError, match="exact"):
        ex.op(7, "/", 2)
    with pytest.raises(ValueError, match="not an integer"):
        ex.sqrt(20)


def test_sibling_theorems_share_wording_but_not_rules():
    families = {}
    for theorem in THEOREMS:
        families.setdefault(theorem.family.id, []).append(theorem)
    shared = [group for group in families.values() if len(group) >= 2]
    assert len(shared) >= 2, "at least two pairs of theorems must share surface wording"
    rng = random.Random("siblings")
    for group in shared:
        first, second = group[:2]
        assert first.family is second.family and first.ask != second.ask
        assert second in siblings(first.id)
        assert all("{ask}" in t.question for t in first.family.templates)
        differing = 0
        for _ in range(30):
            values = first.sample(rng, "train")
            differing += first.solve(values)[0] != second.solve(values)[0]
        assert differing >= 20, f"{first.id} and {second.id} should usually give different answers"
