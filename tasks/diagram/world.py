"""The diagram world: seeded geometry problems with a figure, and perturbations of text and image.

A diagram problem is a text-world problem (same theorem machinery: the answer and the Cond / Map
/ Exec trace come from the rule) whose text leaves one given to the figure. The problem's text
and its figure are both pure functions of (theorem, surface), so a perturbation edits the surface,
renders both again and recomputes the answer. Kinds:

| kind             | acts on | change                                               | answer    |
|------------------|---------|------------------------------------------------------|-----------|
| entity_rename    | text    | the person's name, to another name training uses     | invariant |
| entity_rename_novel | text | the person's name, to one no training problem has    | invariant |
| letter_rename    | both    | every vertex letter, in the text and on the figure   | invariant |
| letter_rename_novel | both | every vertex letter, to letters training never uses  | invariant |
| heldout_template | text    | a wording never used in training                     | invariant |
| rotate           | image   | the figure turned by 90, 180 or 270 degrees          | invariant |
| mirror           | image   | the figure mirrored left-right                       | invariant |
| move_label       | image   | the figure-only value written elsewhere near its item| invariant |
| distractor_mark  | image   | a stray number with a tick in a corner               | invariant |
| out_of_range     | both    | values redrawn from the held-out range               | recomputed|
| given_swap       | image   | another figure-only value: same text, new answer     | recomputed|

As in the text world, `entity_rename` and `letter_rename` draw from training's own pools (in-distribution
controls) and the `_novel` kinds are the renaming shifts. `given_swap` is the diagram world's minimal pair: the
two prompts have the same tokens except the figure's pixels, so patching (patching.groups) can ask where the
model reads the figure's value.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tsft.tasks.diagram.draw import png_bytes, render_figure
from tsft.tasks.diagram.shapes import BY_ID, CATALOGUE, FIGURE_UNIT, FIGURE_VALUE, get_theorem
from tsft.tasks.perturbing import NotApplicable, apply_kinds, rerender
from tsft.tasks.schema import Perturbation, Problem
from tsft.tasks.world.generate import copy_surface, draw_surface
from tsft.tasks.world.perturb import KINDS as TEXT_KINDS
from tsft.tasks.world.render import render
from tsft.tasks.world.theorem import Theorem

SOURCE = "diagram"
IMAGE_DIR = "images"


@dataclass(frozen=True)
class DiagramConfig:
    """Settings of `tsft data build --source diagram`."""

    seed: int = 0
    n_train: int = 2000
    n_test: int = 500
    size: int = 112
    """Figure width and height in pixels (a multiple of 28 keeps Qwen2.5-VL's patch grid exact)."""
    theorems: tuple[str, ...] = field(default_factory=lambda: tuple(BY_ID))

    def __post_init__(self) -> None:
        if self.n_train < 0 or self.n_test < 0:
            raise ValueError("n_train and n_test must be >= 0")
        if self.size < 56 or self.size % 28:
            raise ValueError(f"size must be a multiple of 28 and at least 56, got {self.size}")
        for theorem_id in self.theorems:
            get_theorem(theorem_id)


def figure_value(problem: Problem) -> int:
    """The value the problem shows only on its figure."""
    family = problem.meta["family"]
    return problem.surface["values"][FIGURE_VALUE[family]]


def make_problem(theorem: Theorem, surface: dict, problem_id: str, split: str) -> Problem:
    answer, application = theorem.apply(surface["values"], surface["letters"])
    return Problem(
        id=problem_id, source=SOURCE, text=render(theorem, surface), answer=str(answer), theorems=(application,),
        steps=application.exec_steps, surface=surface,
        meta={"split": split, "theorem_id": theorem.id, "domain": theorem.domain, "family": theorem.family.id,
              "figure_value": surface["values"][FIGURE_VALUE[theorem.family.id]]},
        image=f"{IMAGE_DIR}/{problem_id}.png")


def figure_image(problem: Problem):
    """The problem's figure (PIL image), drawn from its surface."""
    surface = problem.surface
    return render_figure(problem.meta["family"], surface["letters"], surface["values"], surface["figure"])


def _original(config: DiagramConfig, split: str, index: int, attempt: int) -> Problem:
    theorem = get_theorem(config.theorems[index % len(config.theorems)])
    rng = random.Random(f"diagram/{config.seed}/{split}/{index}/{attempt}")
    surface = draw_surface(theorem, rng)
    surface["figure"] = {"size": config.size, "rotation": 0, "mirror": False, "label_place": 0, "mark": None}
    return make_problem(theorem, surface, f"dia-{split}-{index:06d}", split)


def _key(problem: Problem) -> tuple:
    return problem.text, figure_value(problem)


def generate_split(config: DiagramConfig, split: str, n: int, exclude: frozenset = frozenset()) -> list[Problem]:
    """`n` originals; a problem whose (text, figure value) is in `exclude` or already drawn is redrawn."""
    problems, seen = [], set()
    for index in range(n):
        for attempt in range(50):
            problem = _original(config, split, index, attempt)
            if _key(problem) not in exclude and _key(problem) not in seen:
                break
        else:
            problem.meta["repeat"] = True
        seen.add(_key(problem))
        problems.append(problem)
    return problems


def generate_splits(config: DiagramConfig) -> tuple[list[Problem], list[Problem]]:
    train = generate_split(config, "train", config.n_train)
    return train, generate_split(config, "test", config.n_test, frozenset(_key(p) for p in train))


def _rotate(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    surface["figure"]["rotation"] = rng.choice((90, 180, 270))


def _mirror(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    surface["figure"]["mirror"] = not surface["figure"]["mirror"]


def _move_label(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    surface["figure"]["label_place"] = rng.choice([p for p in (0, 1, 2) if p != surface["figure"]["label_place"]])


def _distractor_mark(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    degrees = theorem.family.id in FIGURE_UNIT
    number = rng.randint(2, 9) * (5 if degrees else 1)
    surface["figure"]["mark"] = {"text": f"{number}{'°' if degrees else ''}", "corner": rng.randrange(4)}


def _given_swap(theorem: Theorem, surface: dict, rng: random.Random) -> None:
    key = FIGURE_VALUE[theorem.family.id]
    old = dict(surface["values"])
    answer = theorem.solve(old)[0]
    for _ in range(200):
        values = {**old, key: theorem.sample(rng, surface["number_range"])[key]}
        if values[key] == old[key] or not all(check(values) for _, check in theorem.premises):
            continue
        try:
            if theorem.solve(values)[0] != answer:
                surface["values"] = values
                return
        except ValueError:  # no answer for this value (a leg without a Pythagorean partner)
            continue
    raise NotApplicable("no other figure value keeps the premises and changes the answer")


KINDS = {
    "entity_rename": TEXT_KINDS["entity_rename"],
    "letter_rename": TEXT_KINDS["letter_rename"],
    "entity_rename_novel": TEXT_KINDS["entity_rename_novel"],
    "letter_rename_novel": TEXT_KINDS["letter_rename_novel"],
    "heldout_template": TEXT_KINDS["heldout_template"],
    "rotate": _rotate,
    "mirror": _mirror,
    "move_label": _move_label,
    "distractor_mark": _distractor_mark,
    "out_of_range": TEXT_KINDS["out_of_range"],
    "given_swap": _given_swap,
}
IMAGE_KINDS = frozenset({"rotate", "mirror", "move_label", "distractor_mark"})
ANSWER_INVARIANT = frozenset(KINDS) - {"out_of_range", "given_swap"}


def _copy(surface: dict) -> dict:
    out = copy_surface(surface)
    out["figure"] = dict(surface["figure"])
    return out


def perturb(problem: Problem, kind: str, seed: int | str = 0) -> Perturbation:
    """Apply `kind` to a diagram original; raises NotApplicable with the reason when it cannot."""
    if kind not in KINDS:
        raise KeyError(f"unknown diagram perturbation {kind!r}; known: {', '.join(KINDS)}")
    if problem.source != SOURCE:
        raise NotApplicable("not a diagram-world problem")
    theorem = get_theorem(problem.theorems[0].theorem_id)
    return rerender(problem, kind, seed, theorem, _copy(problem.surface), KINDS[kind], make_problem)


def perturb_all(problems: list[Problem], kinds: list[str], seed: int | str = 0):
    return apply_kinds(problems, kinds, perturb, seed)


def given_swap(problem: Problem, seed: int | str = 0) -> Problem:
    """The same problem with another figure-only value (same text, another figure and answer)."""
    return perturb(problem, "given_swap", seed).problem


def catalogue_rows() -> list[dict]:
    """theorems.json of the diagram world: the catalogue rows plus the key of each family's figure-only value."""
    return [{**CATALOGUE.row(t), "figure_value": FIGURE_VALUE[t.family.id]} for t in CATALOGUE.theorems]


def write_figures(problems: list[Problem], folder) -> None:
    """One PNG per problem at its `image` path under `folder` (a progress bar from 2000 figures on)."""
    from pathlib import Path

    from tqdm.auto import tqdm

    (Path(folder) / IMAGE_DIR).mkdir(exist_ok=True)
    for problem in tqdm(problems, desc="figures", disable=len(problems) < 2000 or None, leave=False):
        (Path(folder) / problem.image).write_bytes(png_bytes(figure_image(problem)))
