"""What a theorem of the synthetic world is: statement, premises, slots, rule, wording templates.

A `Theorem` is executable. Given the values a problem binds to its slots it produces

* Cond: each premise rendered with the bound values and checked (`premises`);
* Map:  each statement slot bound to a problem object ("angle P") and its value, or None for
  the unknown the problem asks for (`slots`);
* Exec: the rule applied in steps of one operation each ("180 - 50 = 130"), recorded by `Exec`,
  whose last result is the answer.

Theorems that share a `family` share their wording templates word for word, except one `ask`
word (interior / exterior, area / perimeter, or / and...): a model must read that word, not
the template, to pick the rule. Templates are marked `train` or `heldout`; held-out templates
are new phrasings that never appear in training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tsft.tasks.schema import Binding, Premise, TheoremApplication

Values = dict[str, int]


@dataclass(frozen=True)
class Template:
    """One wording: `setup` sentence, `givens` clauses (reorderable), `question` sentence.

    Placeholders: {name} (entity), letter roles of the family (e.g. {A}), value slots (e.g. {a}),
    {unit}, and {ask} (the one word that differs between sibling theorems).
    """

    id: str
    setup: str
    givens: tuple[str, ...]
    question: str
    role: str = "train"  # "train" or "heldout"


@dataclass(frozen=True)
class Family:
    """Wording shared by sibling theorems: letter roles, units and templates."""

    id: str
    letter_kind: str  # "vertex" (upper case), "variable" (lower case) or "label" (upper case)
    letter_roles: tuple[str, ...]
    templates: tuple[Template, ...]
    units: tuple[str, ...] = ("",)

    def template(self, template_id: str) -> Template:
        for template in self.templates:
            if template.id == template_id:
                return template
        raise KeyError(f"family {self.id} has no template {template_id!r}")

    def templates_for(self, role: str) -> tuple[Template, ...]:
        return tuple(t for t in self.templates if t.role == role)


class Exec:
    """Records the rule's steps, one operation each, and returns each result."""

    SYMBOLS: Mapping[str, Callable[[int, int], int]] = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: _exact_div(a, b),
        "mod": lambda a, b: a % b,
        "//": lambda a, b: a // b,
    }

    def __init__(self) -> None:
        self.steps: list[str] = []

    def op(self, a: int, symbol: str, b: int) -> int:
        result = self.SYMBOLS[symbol](a, b)
        self.steps.append(f"{a} {symbol} {b} = {result}")
        return result

    def sqrt(self, a: int) -> int:
        root = math.isqrt(a)
        if root * root != a:
            raise ValueError(f"sqrt({a}) is not an integer")
        self.steps.append(f"sqrt {a} = {root}")
        return root


def _exact_div(a: int, b: int) -> int:
    if b == 0 or a % b:
        raise ValueError(f"{a} / {b} is not an exact integer division")
    return a // b


@dataclass(frozen=True)
class Theorem:
    """A rule of the synthetic world (see the module docstring)."""

    id: str
    name: str
    domain: str
    family: Family
    ask: str
    statement: str
    slots: tuple[tuple[str, str, str | None], ...]
    """(statement slot, problem object with letter roles, value key or None for the unknown)."""
    premises: tuple[tuple[str, Callable[[Values], bool]], ...]
    """(premise text with letter roles and value keys, check)."""
    conclusion: str
    """The unknown's object, e.g. 'angle {C}'; rendered as 'angle R = 70'."""
    sample: Callable[..., Values]
    """sample(rng, number_range) -> values; number_range is 'train' or 'heldout'."""
    rule: Callable[[Values, Exec], int]

    def solve(self, values: Values) -> tuple[int, list[str]]:
        """Run the rule; return the answer and the Exec steps."""
        ex = Exec()
        answer = self.rule(values, ex)
        return answer, ex.steps

    def apply(self, values: Values, letters: Mapping[str, str]) -> tuple[int, TheoremApplication]:
        """The full application trace (Cond, Map, Exec) for these values and letters."""
        answer, steps = self.solve(values)
        fill = {**letters, **{k: str(v) for k, v in values.items()}}
        premises = tuple(Premise(text.format(**fill), bool(check(values))) for text, check in self.premises)
        bindings = tuple(
            Binding(slot, obj.format(**fill), None if key is None else values[key])
            for slot, obj, key in self.slots
        )
        application = TheoremApplication(
            theorem_id=self.id,
            name=self.name,
            statement=self.statement,
            premises=premises,
            bindings=bindings,
            exec_steps=tuple(steps),
            conclusion=f"{self.conclusion.format(**fill)} = {answer}",
        )
        return answer, application


class Catalogue:
    """A set of theorems looked up by id, with their siblings and their theorems.json rows (the text
    world's catalogue and the diagram world's share this)."""

    def __init__(self, theorems: tuple[Theorem, ...], what: str = "theorem"):
        self.theorems, self.what = theorems, what
        self.by_id: dict[str, Theorem] = {t.id: t for t in theorems}

    def get(self, theorem_id: str) -> Theorem:
        try:
            return self.by_id[theorem_id]
        except KeyError:
            raise KeyError(f"unknown {self.what} {theorem_id!r}; known: {', '.join(self.by_id)}") from None

    def siblings(self, theorem_id: str) -> tuple[Theorem, ...]:
        """The other theorems worded by the same family (empty for a theorem with its own wording)."""
        family = self.get(theorem_id).family.id
        return tuple(t for t in self.theorems if t.family.id == family and t.id != theorem_id)

    def row(self, theorem: Theorem) -> dict:
        """One theorems.json row: id, name, domain, family, siblings, statement, slots, premises."""
        return {
            "id": theorem.id,
            "name": theorem.name,
            "domain": theorem.domain,
            "family": theorem.family.id,
            "siblings": [s.id for s in self.siblings(theorem.id)],
            "statement": theorem.statement,
            "slots": [{"slot": s, "object": o} for s, o, _ in theorem.slots],
            "premises": [text for text, _ in theorem.premises],
        }
