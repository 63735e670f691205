"""Minimal pairs for activation patching, and the token-length check they must pass.

Two kinds of pair, both built from synthetic originals:

* theorem-swap pairs: the same surface (template, names, letters, numbers) read with the sibling
  theorem's ask word ("interior" -> "exterior"): same wording, different rule, different answer.
  Patching clean -> corrupt here asks where the model decides which rule applies.
* surface pairs: the same rule and numbers, a different surface (another entity name, other
  letters): same answer. Patching here asks which sites carry surface identity.
* perturbation pairs: an original and its perturbed version from a data folder's perturbed
  splits, the way to pair real problems (MATH, GSM8K... with their real-text perturbations).

Patching swaps activations position by position, so both sides must tokenize to the same length.
`check_pairs` tokenizes both sides with the tokenizer in use and accepts a pair only when the
lengths are equal or, when the caller allows it, when an explicit span alignment exists (equal
prefix and suffix tokens around one differing span). Every other pair is returned in `rejected`
with its reason: unequal pairs are reported, never silently used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tsft.tasks.perturbing import NotApplicable
from tsft.tasks.schema import Problem
from tsft.tasks.world.catalogue import siblings
from tsft.tasks.world.generate import copy_surface, make_problem
from tsft.tasks.world.perturb import perturb

SURFACE_KINDS = ("entity_rename", "letter_rename")


@dataclass(frozen=True)
class MinimalPair:
    """A clean and a corrupt problem that differ in one controlled way (`kind`)."""

    kind: str
    clean: Problem
    corrupt: Problem

    @property
    def answers_differ(self) -> bool:
        """True for most theorem swaps (a few coincide, e.g. area = perimeter of a 4 x 4 square)."""
        return self.clean.answer != self.corrupt.answer


@dataclass(frozen=True)
class SpanAlignment:
    """Token positions of two unequal sequences: shared prefix, one differing span each, shared suffix."""

    prefix: int
    clean_span: tuple[int, int]
    corrupt_span: tuple[int, int]
    suffix: int


@dataclass(frozen=True)
class CheckedPair:
    pair: MinimalPair
    clean_ids: tuple[int, ...]
    corrupt_ids: tuple[int, ...]
    alignment: SpanAlignment | None
    """None when both sides have the same length (position i matches position i)."""


@dataclass(frozen=True)
class PairCheck:
    accepted: list[CheckedPair]
    rejected: list[tuple[MinimalPair, str]]


def theorem_swap_pairs(problems: Iterable[Problem]) -> list[MinimalPair]:
    """One pair per synthetic problem whose theorem has a sibling (clean = original)."""
    pairs = []
    for problem in problems:
        if problem.source != "synthetic":
            continue
        theorem_id = problem.theorems[0].theorem_id
        for sibling in siblings(theorem_id):
            corrupt = make_problem(sibling, copy_surface(problem.surface), f"{problem.id}~swap:{sibling.id}",
                                   problem.meta.get("split", "test"))
            pairs.append(MinimalPair("theorem_swap", problem, corrupt))
    return pairs


def surface_pairs(problems: Iterable[Problem], kinds: Sequence[str] = SURFACE_KINDS,
                  seed: int | str = 0) -> list[MinimalPair]:
    """Pairs with the same rule and answer and a different surface (one per problem and kind)."""
    pairs = []
    for problem in problems:
        for kind in kinds:
            try:
                pairs.append(MinimalPair(f"surface:{kind}", problem, perturb(problem, kind, seed).problem))
            except NotApplicable:
                continue
    return pairs


def perturbation_pairs(dataset, kinds: Sequence[str] | None = None) -> list[MinimalPair]:
    """(original, perturbed) pairs from a data folder's perturbed splits, synthetic or real.

    `kinds` picks perturbation kinds (all by default); an unknown kind is an error naming the
    folder's kinds. The pair kind is `perturbed:<kind>`.
    """
    chosen = list(dataset.perturbed) if kinds is None else list(kinds)
    unknown = [k for k in chosen if k not in dataset.perturbed]
    if unknown:
        have = ", ".join(dataset.perturbed) or "none"
        raise ValueError(f"{dataset.folder}: no perturbed split {unknown}; have: {have}")
    originals = {problem.id: problem for problem in dataset.test}
    return [MinimalPair(f"perturbed:{kind}", originals[row.original_id], row.problem)
            for kind in chosen for row in dataset.perturbed[kind] if row.original_id in originals]


def align(clean: Sequence[int], corrupt: Sequence[int]) -> SpanAlignment:
    """Longest shared prefix and suffix; what lies between is one differing span on each side."""
    limit = min(len(clean), len(corrupt))
    prefix = 0
    while prefix < limit and clean[prefix] == corrupt[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and clean[-1 - suffix] == corrupt[-1 - suffix]:
        suffix += 1
    return SpanAlignment(prefix, (prefix, len(clean) - suffix), (prefix, len(corrupt) - suffix), suffix)


def check_pairs(pairs: Iterable[MinimalPair], tokenize: Callable[[str], Sequence[int]],
                allow_alignment: bool = False) -> PairCheck:
    """Tokenize both sides of every pair (e.g. `tokenize=tokenizer.encode`) and sort them."""
    accepted, rejected = [], []
    for pair in pairs:
        clean, corrupt = tuple(tokenize(pair.clean.text)), tuple(tokenize(pair.corrupt.text))
        if clean == corrupt:
            rejected.append((pair, "both sides tokenize identically"))
        elif len(clean) == len(corrupt):
            accepted.append(CheckedPair(pair, clean, corrupt, None))
        else:
            spans = align(clean, corrupt)
            where = f"clean[{spans.clean_span[0]}:{spans.clean_span[1]}] vs " \
                    f"corrupt[{spans.corrupt_span[0]}:{spans.corrupt_span[1]}]"
            if allow_alignment:
                accepted.append(CheckedPair(pair, clean, corrupt, spans))
            else:
                rejected.append((pair, f"token lengths differ: {len(clean)} vs {len(corrupt)} ({where}); "
                                       "pass allow_alignment=True to use the span alignment"))
    return PairCheck(accepted, rejected)

