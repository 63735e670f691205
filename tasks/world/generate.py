"""Seeded problem generation for the synthetic world, with the spurious-cue knob.

Each problem is drawn from its own `random.Random(f"{seed}/{split}/{index}")`, so the same seed
gives the same problems whatever else changes, and theorems take turns (index mod the number of
theorems), so every theorem has the same count in every split.

Original problems (train and test) use `train` templates, numbers from the training range,
givens in canonical order, digits, no distractor. Test problems are new draws: a test text that
also occurs in train is drawn again.

The spurious-cue knob (strength s): in the training split, a problem whose theorem has a sibling
(the same wording with a different ask word) is given that theorem's reserved cue name with
probability s instead of an ordinary name. At s = 1 the name alone predicts the rule, competing
with the one ask word that truly does. Test originals never carry a cue; the `cue_conflict`
perturbation gives them the sibling theorem's cue name, so a model that learned the name instead
of the ask word picks the wrong rule.

Surface keys: template, template_role, name, cue (the planted cue name or None), letters (role ->
letter), values (slot -> int), number_range, unit, order (givens order), distractor (None or
{index, other, number}), number_format (digits | words), paraphrase (bool).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tqdm.auto import tqdm
from tsft.tasks.perturbing import PROGRESS_FROM
from tsft.tasks.schema import Problem
from tsft.tasks.world.catalogue import BY_ID, THEOREMS, get_theorem, siblings
from tsft.tasks.world.render import render
from tsft.tasks.world.surface import CUE_NAMES, LETTER_POOLS, NAMES
from tsft.tasks.world.theorem import Theorem

SOURCE = "synthetic"


class WorldTooSmall(ValueError):
    """The world cannot produce this many problems without repeating an excluded text."""


@dataclass(frozen=True)
class WorldConfig:
    """Settings of `tsft data build --source synthetic`."""

    seed: int = 0
    """Seed of every random draw; the same seed gives byte-identical output."""
    n_train: int = 2000
    """Number of training problems (spread evenly over the theorems)."""
    n_test: int = 500
    """Number of in-distribution test problems; each is the original of every perturbation."""
    n_val: int = 0
    """Validation problems (training templates and ranges, texts in neither train nor test): what learning rates,
    plateaus and matched checkpoints are chosen on, so test is read only for reported numbers (0: none)."""
    cue_strength: float = 0.0
    """Probability in [0, 1] that a training problem of a sibling theorem carries its cue name."""
    theorems: tuple[str, ...] = field(default_factory=lambda: tuple(BY_ID))
    """Theorem ids to draw from (the whole catalogue by default)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.cue_strength <= 1.0:
            raise ValueError(f"cue_strength must be in [0, 1], got {self.cue_strength}")
        if self.n_train < 0 or self.n_test < 0 or self.n_val < 0:
            raise ValueError("n_train, n_test and n_val must be >= 0")
        for theorem_id in self.theorems:
            get_theorem(theorem_id)
        if not self.theorems:
            raise ValueError("at least one theorem is needed")


def _cue_names() -> dict[str, str]:
    cued = [t.id for t in THEOREMS if siblings(t.id)]
    if len(cued) > len(CUE_NAMES):
        raise RuntimeError("more sibling theorems than reserved cue names")
    return dict(zip(cued, CUE_NAMES, strict=False))


CUE_NAME: dict[str, str] = _cue_names()
"""The reserved cue name of each theorem that has a sibling."""


def draw_surface(theorem: Theorem, rng: random.Random, *, template_role: str = "train",
                 number_range: str = "train", name: str | None = None) -> dict:
    """A fresh surface for `theorem`: template, letters, values, unit, name."""
    family = theorem.family
    template = rng.choice(family.templates_for(template_role))
    letters = dict(zip(family.letter_roles,
                       rng.sample(LETTER_POOLS[family.letter_kind], len(family.letter_roles)), strict=True))
    return {
        "template": template.id,
        "template_role": template_role,
        "name": name if name is not None else rng.choice(NAMES),
        "cue": None,
        "letters": letters,
        "values": theorem.sample(rng, number_range),
        "number_range": number_range,
        "unit": rng.choice(family.units),
        "order": list(range(len(template.givens))),
        "distractor": None,
        "number_format": "digits",
        "paraphrase": False,
    }


def copy_surface(surface: dict) -> dict:
    """A copy safe to edit: the surface's values are scalars or flat dicts and lists."""
    return {k: v.copy() if isinstance(v, dict | list) else v for k, v in surface.items()}


def make_problem(theorem: Theorem, surface: dict, problem_id: str, split: str) -> Problem:
    """Render the text and run the rule: the answer and trace always match the surface's values."""
    answer, application = theorem.apply(surface["values"], surface["letters"])
    return Problem(
        id=problem_id,
        source=SOURCE,
        text=render(theorem, surface),
        answer=str(answer),
        theorems=(application,),
        steps=application.exec_steps,
        surface=surface,
        meta={"split": split, "theorem_id": theorem.id, "domain": theorem.domain,
              "family": theorem.family.id},
    )


def _draw_original(config: WorldConfig, split: str, index: int, attempt: int) -> Problem:
    theorem = get_theorem(config.theorems[index % len(config.theorems)])
    rng = random.Random(f"{config.seed}/{split}/{index}/{attempt}")
    cue = None
    if split == "train" and theorem.id in CUE_NAME and rng.random() < config.cue_strength:
        cue = CUE_NAME[theorem.id]
    surface = draw_surface(theorem, rng, name=cue)
    surface["cue"] = cue
    return make_problem(theorem, surface, f"syn-{split}-{index:06d}", split)


MAX_REDRAWS = 50


def generate_split(config: WorldConfig, split: str, n: int, exclude_texts: frozenset[str] = frozenset()
                   ) -> list[Problem]:
    """`n` original problems for `split`, none of whose texts is in `exclude_texts`.

    Each problem is redrawn (up to MAX_REDRAWS times) until its text is new. A theorem whose
    surface space is exhausted (a small world asked for many problems, or a cue at strength 1
    fixing the name) may then repeat a text of its own split, counted in `meta.repeat`; it never
    repeats an excluded text (the test split never shares a text with train).
    """
    problems, seen = [], set()
    for index in tqdm(range(n), desc=f"{split} problems", disable=n < PROGRESS_FROM or None, leave=False):
        fallback = None
        for attempt in range(MAX_REDRAWS):
            problem = _draw_original(config, split, index, attempt)
            if problem.text in exclude_texts:
                continue
            fallback = fallback or problem
            if problem.text not in seen:
                break
        else:
            if fallback is None:
                raise WorldTooSmall(f"{split} problem {index} ({problem.theorems[0].theorem_id}): {MAX_REDRAWS} "
                                    "draws all repeated a training text; ask for fewer problems")
            problem = fallback
            problem.meta["repeat"] = True
        seen.add(problem.text)
        problems.append(problem)
    return problems


def generate_splits(config: WorldConfig) -> dict[str, list[Problem]]:
    """{"train", "test"[, "val"]}: test texts are disjoint from train, validation texts from both (drawn after
    them, so asking for a validation split changes no train or test problem); repeats within a split are rare
    and marked."""
    splits = {"train": generate_split(config, "train", config.n_train)}
    splits["test"] = generate_split(config, "test", config.n_test, frozenset(p.text for p in splits["train"]))
    if config.n_val:
        seen = frozenset(p.text for split in splits.values() for p in split)
        splits["val"] = generate_split(config, "val", config.n_val, seen)
    return splits
