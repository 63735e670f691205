"""Counterfactual examples for distributed alignment search: which theorem a prompt asks for.

The high-level causal model has one variable, the theorem chosen, and one output, the continuation it implies
(the theorem's name in the theorem style, the answer's first token in the answer style). A prompt becomes a
`DasItem`: its token ids (the shared target prefix appended, as patching pairs build them), the two positions
an intervention reads and writes (`last`, whose next token is read, and `ask`, the last token of the word that
asks for the theorem), its theorem and template, and `labels`: the next token this prompt continues with when
each theorem of its family is chosen (its own theorem and the sibling's, read from its theorem-swap pair).

An example pairs a base item with a source item of the other theorem; the interchange makes the base read the
source's value of the variable, so the high-level model predicts `base.labels[source.theorem]`:

* `swap`  - the source is the base's own theorem-swap partner (the same surface, the sibling's ask word);
* `cross` - the source is a prompt of the other theorem on another template, so a subspace that only copies the
  ask word's token, or a position-specific feature of one wording, does not carry it.

Labels come from the targets (`target`: the theorem's name or the answer, as written) or from the model itself
(`model`: what it predicts for the prompt of each theorem on the same surface, `model_labels`).

Splits keep the rotation honest: it is fitted on `train` (the data folder's validation problems, else its
training problems), and read on `heldout_pairs` (test originals) and `heldout_templates` (the test problems'
held-out-template versions, worded in templates no training prompt used).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tsft.patching.pairs import prepare_pairs
from tsft.tasks.pairs import theorem_swap_pairs

POSITIONS = ("last", "ask")
PAIRINGS = ("swap", "cross")
SPLITS = ("train", "heldout_pairs", "heldout_templates")
LABELS = ("target", "model")


@dataclass(frozen=True)
class DasItem:
    """One prompt: ids (with the target prefix), positions by name, its theorem, template, surface and labels."""

    ids: tuple[int, ...]
    at: dict[str, int]
    theorem: str
    template: str
    surface: str
    labels: dict[str, int]

    @property
    def own(self) -> int:
        """The token this prompt continues with under its own theorem."""
        return self.labels[self.theorem]


@dataclass(frozen=True)
class DasExample:
    """Base item, source item (indices into the item list), the high-level model's label, the pairing."""

    base: int
    source: int
    label: int
    pairing: str


def split_problems(dataset, split: str) -> list:
    """The problems whose theorem-swap pairs make one split (see the module docstring)."""
    if split == "train":
        problems = dataset.val or dataset.train
        if not problems:
            raise ValueError(f"{dataset.folder}: DAS fits its rotation on the validation or training problems, "
                             "and this data folder has neither")
        return problems
    if split == "heldout_pairs":
        return dataset.test
    if split == "heldout_templates":
        if "heldout_template" not in dataset.perturbed:
            raise ValueError(f"{dataset.folder}: no perturbed/heldout_template split for DAS's held-out templates")
        return [row.problem for row in dataset.perturbed["heldout_template"]]
    raise ValueError(f"unknown DAS split {split!r}; use one of {', '.join(SPLITS)}")


def make_items(problems: Sequence, tokenizer, target: str, limit: int) -> list[DasItem]:
    """Both sides of the first `limit` usable theorem-swap pairs of `problems`, read in the `target` style."""
    pairs = [p for p in theorem_swap_pairs(problems)][: 4 * limit]
    by_id = {f"{p.clean.id}|{p.corrupt.id}": p for p in pairs}
    prepared, _ = prepare_pairs(pairs, tokenizer, target)
    items: dict[tuple[int, ...], DasItem] = {}
    used = 0
    for patch in prepared:
        if used == limit:
            break
        if patch.wrong is None or not patch.clean_spans["diff"] or not patch.corrupt_spans["diff"]:
            continue
        pair = by_id[patch.pair_id]
        clean_theorem, corrupt_theorem = pair.clean.theorems[0].theorem_id, pair.corrupt.theorems[0].theorem_id
        labels = {clean_theorem: patch.right, corrupt_theorem: patch.wrong}
        template = pair.clean.surface["template"]
        for ids, spans, theorem in ((patch.clean_ids, patch.clean_spans, clean_theorem),
                                    (patch.corrupt_ids, patch.corrupt_spans, corrupt_theorem)):
            known = items.get(ids)
            merged = {**(known.labels if known else {}), **labels}
            items[ids] = DasItem(ids, {"last": len(ids) - 1, "ask": max(spans["diff"])}, theorem, template,
                                 pair.clean.id, merged)
        used += 1
    return list(items.values())


def model_labels(items: Sequence[DasItem], predicted: Sequence[int]) -> list[DasItem]:
    """The items relabelled by the model's own behaviour: under each theorem, the token the model predicts for the
    prompt of that theorem on the same surface. The variable is then the model's own theorem choice, wherever its
    continuation depends on it (a model that names no theorem right, such as a pretrained one, still has one)."""
    by_surface: dict[str, dict[str, int]] = {}
    for item, token in zip(items, predicted, strict=True):
        by_surface.setdefault(item.surface, {})[item.theorem] = int(token)
    return [DasItem(item.ids, item.at, item.theorem, item.template, item.surface,
                    {t: by_surface[item.surface].get(t, label) for t, label in item.labels.items()})
            for item in items]


def make_examples(items: Sequence[DasItem], correct: Sequence[bool], per_base: int = 2, seed: int = 0
                  ) -> list[DasExample]:
    """Swap and cross examples among `items` whose own prediction the model gets right (`correct`); each base
    takes its swap partners and up to `per_base` cross-template sources drawn with `seed`. An example whose label
    is the base's own continuation (the two theorems continue alike) tests nothing and is left out."""
    rng = random.Random(seed)
    usable = [i for i, ok in enumerate(correct) if ok]
    examples = []
    for b in usable:
        base = items[b]
        others = [s for s in usable if items[s].theorem != base.theorem and items[s].theorem in base.labels
                  and base.labels[items[s].theorem] != base.own]
        for s in others:
            if items[s].surface == base.surface:
                examples.append(DasExample(b, s, base.labels[items[s].theorem], "swap"))
        crossing = [s for s in others if items[s].template != base.template]
        for s in rng.sample(crossing, min(per_base, len(crossing))):
            examples.append(DasExample(b, s, base.labels[items[s].theorem], "cross"))
    return examples
