"""Surface perturbations of synthetic problems, each recomputing the answer by the rule.

A perturbation edits the original's surface and renders again (tasks.world.render), so the text,
the reference answer and the Cond / Map / Exec trace always agree. Kinds:

| kind             | change                                                 | answer    |
|------------------|--------------------------------------------------------|-----------|
| entity_rename    | the person's name, to another name training uses       | invariant |
| entity_rename_novel | the person's name, to one no training problem has   | invariant |
| letter_rename    | every vertex / variable / label letter (training's)    | invariant |
| letter_rename_novel | every letter, to letters training never uses        | invariant |
| reorder_givens   | the order of the given clauses                         | invariant |
| distractor       | an irrelevant sentence holding a number                | invariant |
| paraphrase       | synonyms, and the question moved first (mild)          | invariant |
| heldout_template | a phrasing never used in training (new wording)        | invariant |
| format_words     | numbers written as words                               | invariant |
| out_of_range     | numbers redrawn from the held-out range                | recomputed|
| cue_conflict     | the sibling theorem's planted cue name (cue runs only) | invariant |

`entity_rename` and `letter_rename` draw from the pools training draws from, so their problems are fresh samples
of the training distribution, not shifts: they are kept as labelled in-distribution controls, and the `_novel`
kinds are the renaming shifts.

A kind that cannot apply to a problem (one given clause cannot be reordered; a theorem without
letters cannot have them renamed; without a sibling there is no conflicting cue) returns None and
is counted as skipped with its reason, never applied wrongly.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tsft.tasks.perturbing import NotApplicable, apply_kinds, rerender
from tsft.tasks.schema import Perturbation, Problem
from tsft.tasks.world.catalogue import get_theorem, siblings
from tsft.tasks.world.generate import CUE_NAME, copy_surface, make_problem
from tsft.tasks.world.surface import DISTRACTORS, LETTER_POOLS, NAMES, NOVEL_LETTERS, NOVEL_NAMES
from tsft.tasks.world.theorem import Theorem


def _rename_entity(names: tuple[str, ...]):
    def rename(theorem: Theorem, surface: dict, rng: random.Random) -> None:
        surface["name"] = rng.choice([n for n in names if n != surface["name"]])
        surface["cue"] = None
    return rename


def _rename_letters(pools: dict[str, tuple[str, ...]]):
    def rename(theorem: Theorem, surface: dict, rng: random.Random) -> None:
        roles = theorem.family.letter_roles
        if not roles:
            raise NotApplicable("the theorem's wording has no letters")
        old = set(surface["letters"].values())
        pool = [x for x in pools[theorem.family.letter_kind] if x not in old]
        if len(pool) < len(roles):
            raise NotApplicable(f"{len(roles)} letter roles, {len(pool)} letters to draw from")
        surface["letters"] = dict(zip(roles, rng.sample(pool, len(roles)), strict=True))
    return rename


def _reorder_givens(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    order = surface["order"]
    if len(order) < 2:
        raise NotApplicable("the template has a single given clause")
    new = order[:]
    while new == order:
        rng.shuffle(new)
    surface["order"] = new


def _distractor(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    surface["distractor"] = {
        "index": rng.randrange(len(DISTRACTORS)),
        "other": rng.choice([n for n in NAMES if n != surface["name"]]),
        "number": rng.randint(2, 9),
    }


def _paraphrase(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    surface["paraphrase"] = True


def _heldout_template(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    template = rng.choice(theorem.family.templates_for("heldout"))
    surface["template"], surface["template_role"] = template.id, "heldout"
    surface["order"] = list(range(len(template.givens)))


def _format_words(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    surface["number_format"] = "words"


def _out_of_range(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    surface["values"] = theorem.sample(rng, "heldout")
    surface["number_range"] = "heldout"


def _cue_conflict(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    others = [s for s in siblings(theorem.id) if s.id in CUE_NAME]
    if not others:
        raise NotApplicable("the theorem has no sibling, so no cue competes with its wording")
    surface["name"] = surface["cue"] = CUE_NAME[rng.choice(others).id]


KINDS: dict[str, Callable[[Theorem, dict, random.Random], None]] = {
    "entity_rename": _rename_entity(NAMES),
    "entity_rename_novel": _rename_entity(NOVEL_NAMES),
    "letter_rename": _rename_letters(LETTER_POOLS),
    "letter_rename_novel": _rename_letters(NOVEL_LETTERS),
    "reorder_givens": _reorder_givens,
    "distractor": _distractor,
    "paraphrase": _paraphrase,
    "heldout_template": _heldout_template,
    "format_words": _format_words,
    "out_of_range": _out_of_range,
    "cue_conflict": _cue_conflict,
}
ANSWER_INVARIANT = frozenset(KINDS) - {"out_of_range"}
IN_DISTRIBUTION = frozenset({"entity_rename", "letter_rename"})
"""Kinds that redraw from training's own pools: controls, not surface shifts."""


def perturb(problem: Problem, kind: str, seed: int | str = 0) -> Perturbation:
    """Apply `kind` to a synthetic original; raises NotApplicable with the reason when it cannot."""
    if kind not in KINDS:
        raise KeyError(f"unknown perturbation kind {kind!r}; known: {', '.join(KINDS)}")
    if problem.source != "synthetic" or len(problem.theorems) != 1:
        raise NotApplicable("not a synthetic problem with one theorem application")
    theorem = get_theorem(problem.theorems[0].theorem_id)
    return rerender(problem, kind, seed, theorem, copy_surface(problem.surface), KINDS[kind], make_problem)


def perturb_all(problems: list[Problem], kinds: list[str], seed: int | str = 0
                ) -> tuple[dict[str, list[Perturbation]], dict[str, dict[str, int]]]:
    """Every synthetic kind on every problem: (perturbations per kind, skip counts per kind and reason)."""
    return apply_kinds(problems, kinds, perturb, seed)
