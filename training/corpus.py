"""The neutral corpus that stands in for pretraining in the synthetic world.

Real pretrained weights cannot be fetched here, so every synthetic SFT run starts from one base
trained on this corpus first. It is a STAND-IN for pretraining, not a model of it: it teaches the
world's vocabulary, the theorem statements and arithmetic facts, and never pairs a problem with
its answer or its rule, so whatever the SFT variants learn about solving problems they learn
from their targets. Three kinds of document:

* theorem statements ("Theorem: <name>. <statement>"), as a textbook would state them;
* arithmetic facts in the Exec step format ("23 * 7 = 161", "sqrt 144 = 12", "17 mod 5 = 2"),
  over a wider number range than the training problems use, so out-of-range perturbations
  test the rule rather than missing arithmetic;
* unsolved problem texts drawn from the training templates with their own seed (held-out
  templates stay unseen).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from tsft.models.prompts import PLAIN_PROMPT
from tsft.models.targets import theorem_statements
from tsft.tasks.diagram.shapes import THEOREMS as DIAGRAM
from tsft.tasks.diagram.world import DiagramConfig
from tsft.tasks.diagram.world import generate_split as diagram_split
from tsft.tasks.world.catalogue import BY_ID
from tsft.tasks.world.generate import WorldConfig, generate_split

MAX_OPERAND = 999


def arithmetic_fact(rng: random.Random, max_operand: int = MAX_OPERAND) -> str:
    """One true fact of an operation the Exec traces use; sums and differences reach `max_operand`,
    products, quotients, roots and remainders use factors up to min(40, max_operand)."""
    small = min(40, max_operand)
    op = rng.choice(["+", "-", "*", "/", "mod", "//", "sqrt"])
    if op == "+":
        a, b = rng.randint(0, max_operand // 2), rng.randint(0, max_operand // 2)
        return f"{a} + {b} = {a + b}"
    if op == "-":
        a = rng.randint(0, max_operand)
        b = rng.randint(0, a)
        return f"{a} - {b} = {a - b}"
    if op == "*":
        a, b = rng.randint(0, small), rng.randint(0, small)
        return f"{a} * {b} = {a * b}"
    if op == "/":
        b, q = rng.randint(1, small), rng.randint(0, small)
        return f"{b * q} / {b} = {q}"
    if op == "sqrt":
        r = rng.randint(0, small)
        return f"sqrt {r * r} = {r}"
    a, b = rng.randint(0, min(200, max_operand)), rng.randint(1, small)
    return f"{a} {op} {b} = {a % b if op == 'mod' else a // b}"


def _mixed(statements: list[str], problems, n_facts: int, rng: random.Random, max_operand: int) -> list[str]:
    """Statements (repeated), `n_facts` arithmetic facts in lines of 8, and the unsolved problems, shuffled."""
    facts = [arithmetic_fact(rng, max_operand) for _ in range(n_facts)]
    docs = [*statements * max(1, len(problems) // (10 * len(statements)))]
    docs += ["\n".join(facts[i:i + 8]) for i in range(0, len(facts), 8)]
    docs += [PLAIN_PROMPT.format(text=p.text).removesuffix("\nSolution:") for p in problems]
    rng.shuffle(docs)
    return docs


def neutral_documents(n_facts: int, n_problems: int, seed: int, max_operand: int = MAX_OPERAND) -> Iterator[str]:
    """Statements, `n_facts` arithmetic facts in lines of 8, and `n_problems` unsolved problems."""
    problems = generate_split(WorldConfig(seed=seed + 10_000), "train", n_problems)
    yield from _mixed(theorem_statements(), problems, n_facts, random.Random(seed), max_operand)


def diagram_documents(n_facts: int, n_problems: int, seed: int, max_operand: int = MAX_OPERAND) -> list[str]:
    """The diagram world's neutral text: every statement (text and diagram theorems), arithmetic
    facts, and unsolved diagram problem texts (their figures' values are not in them)."""
    statements = theorem_statements() + [f"Theorem: {t.name}. {t.statement}" for t in DIAGRAM if t.id not in BY_ID]
    problems = diagram_split(DiagramConfig(seed=seed + 10_000), "train", n_problems)
    return _mixed(statements, problems, n_facts, random.Random(seed), max_operand)
