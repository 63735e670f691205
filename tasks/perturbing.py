"""What every perturbation shares: the "cannot apply here" signal and the loop over kinds.

A perturbation function takes (problem, kind, seed) and returns a `Perturbation`, or raises
`NotApplicable` with the reason when the kind cannot apply to that problem. `apply_kinds` runs
kinds over problems and counts skips per kind and reason, so a build reports them instead of
applying a kind wrongly.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm
from tsft.tasks.schema import Perturbation, Problem

PROGRESS_FROM = 5000
"""Show a progress bar (on a terminal) from this many items on."""


class NotApplicable(Exception):
    """This kind of perturbation cannot apply to this problem (the reason is the message)."""


PerturbOne = Callable[[Problem, str, int | str], Perturbation]


def rerender(problem: Problem, kind: str, seed: int | str, theorem, surface: dict, edit, make) -> Perturbation:
    """A world problem perturbed by editing a copy of its surface (`edit(theorem, surface, rng)`, seeded by
    seed, problem and kind) and rendering it again (`make(theorem, surface, id, split)`): the answer is recomputed."""
    import random

    edit(theorem, surface, random.Random(f"{seed}/{problem.id}/{kind}"))
    perturbed = make(theorem, surface, f"{problem.id}~{kind}", problem.meta.get("split", "test"))
    perturbed.meta["perturbation"] = kind
    return Perturbation(problem.id, kind, perturbed, answer_changed=perturbed.answer != problem.answer)


def apply_kinds(problems: list[Problem], kinds: list[str], perturb_one: PerturbOne, seed: int | str = 0
                ) -> tuple[dict[str, list[Perturbation]], dict[str, dict[str, int]]]:
    """Every kind on every problem: (perturbations per kind, skip counts per kind and reason)."""
    out: dict[str, list[Perturbation]] = {k: [] for k in kinds}
    skipped: dict[str, dict[str, int]] = {k: {} for k in kinds}
    for kind in kinds:
        for problem in tqdm(problems, desc=f"perturb {kind}", disable=len(problems) < PROGRESS_FROM or None,
                            leave=False):
            try:
                out[kind].append(perturb_one(problem, kind, seed))
            except NotApplicable as reason:
                skipped[kind][str(reason)] = skipped[kind].get(str(reason), 0) + 1
    return out, skipped
