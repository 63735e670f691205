"""Algebra theorems: solving a linear equation, Vieta's sum and product of roots (one wording),
and the arithmetic sequence's n-th term and partial sum (one wording).

Quadratics are built from integer roots, so every answer is an integer and every Exec step an
exact operation.
"""

from __future__ import annotations

import random

from tsft.tasks.world.theorem import Exec, Family, Template, Theorem, Values

LINEAR = Family(
    id="linear",
    letter_kind="variable",
    letter_roles=("X",),
    templates=(
        Template("linear/0", "{name} thinks of a number {X}.", ("{a} times {X} plus {b} equals {c}",),
                 "What is {X}?"),
        Template("linear/1", "{name} writes down the equation", ("{a}*{X} + {b} = {c}",),
                 "Solve it for {X}."),
        Template("linear/2", "{name} has a mystery number {X}:", ("adding {b} to {a} times {X} gives {c}",),
                 "Find {X}."),
        Template("linear/3", "", ("if {name} multiplies {X} by {a} and then adds {b}, the result is {c}",),
                 "Which value does {X} have?", role="heldout"),
        Template("linear/4", "", ("{name} notes that {b} more than {a} lots of {X} makes {c}",),
                 "What number is {X}?", role="heldout"),
        Template("linear/5", "{name} sets a riddle about {X}:", ("the product of {a} and {X}, plus {b}, comes to {c}",),
                 "Tell the value of {X}.", role="heldout"),
    ),
)

VIETA = Family(
    id="vieta",
    letter_kind="variable",
    letter_roles=("X",),
    templates=(
        Template("vieta/0", "{name} studies the equation", ("{a}*{X}^2 - {b}*{X} + {c} = 0",),
                 "What is the {ask} of its two roots?"),
        Template("vieta/1", "{name} knows that", ("{a}*{X}^2 - {b}*{X} + {c} = 0 has two real roots",),
                 "Find the {ask} of the roots."),
        Template("vieta/2", "{name} writes a quadratic in {X}:", ("{a}*{X}^2 - {b}*{X} + {c} = 0",),
                 "Compute the {ask} of its roots."),
        Template("vieta/3", "", ("both solutions of {a}*{X}^2 - {b}*{X} + {c} = 0 are real",),
                 "{name} asks for their {ask}.", role="heldout"),
        Template("vieta/4", "{name} factors a quadratic.", ("its equation is {a}*{X}^2 - {b}*{X} + {c} = 0",),
                 "Tell the {ask} of the two roots.", role="heldout"),
        Template("vieta/5", "", ("the roots of {a}*{X}^2 - {b}*{X} + {c} = 0 are what {name} cares about",),
                 "Give their {ask}.", role="heldout"),
    ),
)

ARITHMETIC_SEQUENCE = Family(
    id="arithmetic_sequence",
    letter_kind="label",
    letter_roles=("S",),
    templates=(
        Template("arithmetic_sequence/0", "{name} writes an arithmetic sequence {S}.",
                 ("its first term is {a}", "its common difference is {d}"),
                 "What is the {ask} of its first {n} terms?"),
        Template("arithmetic_sequence/1", "In the arithmetic sequence {S} of {name},",
                 ("the first term is {a}", "each term is {d} more than the one before"),
                 "Find the {ask} of the first {n} terms."),
        Template("arithmetic_sequence/2", "{name} counts with an arithmetic sequence {S}:",
                 ("it starts at {a}", "it goes up by {d} each time"),
                 "Compute the {ask} of its first {n} terms."),
        Template("arithmetic_sequence/3", "",
                 ("sequence {S} begins with {a}", "sequence {S} grows by a constant {d} per term"),
                 "{name} needs the {ask} of the opening {n} terms.", role="heldout"),
        Template("arithmetic_sequence/4", "{name} stacks cans in rows, row by row, as sequence {S}:",
                 ("the top row has {a} cans", "every row has {d} cans more than the row above"),
                 "Tell the {ask} of the first {n} rows.", role="heldout"),
        Template("arithmetic_sequence/5", "",
                 ("{name} saves {a} coins in week one of plan {S}", "each week {name} saves {d} coins more"),
                 "Give the {ask} of the first {n} weeks.", role="heldout"),
    ),
)


def sample_linear(rng: random.Random, number_range: str) -> Values:
    if number_range == "train":
        a, x, b = rng.randint(2, 5), rng.randint(1, 9), rng.randint(1, 9)
    else:
        a, x, b = rng.randint(6, 9), rng.randint(11, 19), rng.randint(11, 19)
    return {"a": a, "b": b, "c": a * x + b}


def sample_quadratic(rng: random.Random, number_range: str) -> Values:
    if number_range == "train":
        a, r1, r2 = rng.randint(2, 3), rng.randint(1, 4), rng.randint(1, 4)
    else:
        a, r1, r2 = rng.randint(4, 5), rng.randint(5, 9), rng.randint(5, 9)
    return {"a": a, "b": a * (r1 + r2), "c": a * r1 * r2}


def sample_sequence(rng: random.Random, number_range: str) -> Values:
    if number_range == "train":
        return {"a": rng.randint(1, 9), "d": rng.randint(1, 5), "n": rng.randint(3, 6)}
    return {"a": rng.randint(11, 19), "d": rng.randint(6, 9), "n": rng.randint(7, 9)}


def linear_rule(v: Values, ex: Exec) -> int:
    return ex.op(ex.op(v["c"], "-", v["b"]), "/", v["a"])


def vieta_sum_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["b"], "/", v["a"])


def vieta_product_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["c"], "/", v["a"])


def nth_term_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["a"], "+", ex.op(ex.op(v["n"], "-", 1), "*", v["d"]))


def partial_sum_rule(v: Values, ex: Exec) -> int:
    last = nth_term_rule(v, ex)
    return ex.op(ex.op(v["n"], "*", ex.op(v["a"], "+", last)), "/", 2)


def _real_roots(v: Values) -> bool:
    return v["a"] != 0 and v["b"] * v["b"] - 4 * v["a"] * v["c"] >= 0


_QUADRATIC_SLOTS = (("A", "the coefficient of {X}^2", "a"), ("B", "minus the coefficient of {X}", "b"),
                    ("C", "the constant term", "c"))
_QUADRATIC_PREMISES = (("{a} is not 0", lambda v: v["a"] != 0),
                       ("{b}*{b} - 4*{a}*{c} >= 0", _real_roots))
_SEQUENCE_SLOTS = (("F", "first term of {S}", "a"), ("D", "common difference of {S}", "d"),
                   ("N", "number of terms", "n"))

THEOREMS = (
    Theorem(
        id="linear_equation", name="linear equation solving rule", domain="algebra", family=LINEAR,
        ask="",
        statement="If A * X + B = C with A not 0, then X = (C - B) / A.",
        slots=(("A", "coefficient of {X}", "a"), ("B", "added constant", "b"), ("C", "right-hand side", "c"),
               ("X", "{X}", None)),
        premises=(("{a} is not 0", lambda v: v["a"] != 0),),
        conclusion="{X}", sample=sample_linear, rule=linear_rule,
    ),
    Theorem(
        id="vieta_sum", name="Vieta's formula for the sum of roots", domain="algebra", family=VIETA,
        ask="sum",
        statement="The roots of A * X^2 - B * X + C = 0 with A not 0 have sum B / A.",
        slots=(*_QUADRATIC_SLOTS, ("S", "sum of the roots", None)),
        premises=_QUADRATIC_PREMISES, conclusion="sum of the roots", sample=sample_quadratic,
        rule=vieta_sum_rule,
    ),
    Theorem(
        id="vieta_product", name="Vieta's formula for the product of roots", domain="algebra", family=VIETA,
        ask="product",
        statement="The roots of A * X^2 - B * X + C = 0 with A not 0 have product C / A.",
        slots=(*_QUADRATIC_SLOTS, ("P", "product of the roots", None)),
        premises=_QUADRATIC_PREMISES, conclusion="product of the roots", sample=sample_quadratic,
        rule=vieta_product_rule,
    ),
    Theorem(
        id="arithmetic_nth_term", name="arithmetic sequence term formula", domain="algebra",
        family=ARITHMETIC_SEQUENCE, ask="last",
        statement="The N-th term of an arithmetic sequence with first term F and difference D is F + (N - 1) * D.",
        slots=(*_SEQUENCE_SLOTS, ("T", "term number N", None)),
        premises=(("{S} is an arithmetic sequence", lambda v: True), ("{n} >= 1", lambda v: v["n"] >= 1)),
        conclusion="term {n} of {S}", sample=sample_sequence, rule=nth_term_rule,
    ),
    Theorem(
        id="arithmetic_series", name="arithmetic series sum formula", domain="algebra",
        family=ARITHMETIC_SEQUENCE, ask="sum",
        statement="The first N terms of an arithmetic sequence with first term F and last term T sum to "
                  "N * (F + T) / 2.",
        slots=(*_SEQUENCE_SLOTS, ("S", "sum of the first N terms", None)),
        premises=(("{S} is an arithmetic sequence", lambda v: True), ("{n} >= 1", lambda v: v["n"] >= 1)),
        conclusion="sum of the first {n} terms of {S}", sample=sample_sequence, rule=partial_sum_rule,
    ),
)
