"""The theorem catalogue: every theorem of the synthetic world, looked up by id.

Theorems sharing a wording family are siblings: the same template, names and numbers read with
a different `ask` word need a different rule. Sibling pairs give theorem-swap minimal pairs and
are where the spurious-cue knob plants its cue.
"""

from __future__ import annotations

import re

from tsft.tasks.world import algebra, combinatorics, geometry, number_theory
from tsft.tasks.world.surface import paraphrase, vocabulary_text
from tsft.tasks.world.theorem import Catalogue, Theorem

THEOREMS: tuple[Theorem, ...] = (
    *geometry.THEOREMS, *algebra.THEOREMS, *number_theory.THEOREMS, *combinatorics.THEOREMS,
)
CATALOGUE = Catalogue(THEOREMS)
BY_ID: dict[str, Theorem] = CATALOGUE.by_id
DOMAINS: tuple[str, ...] = tuple(dict.fromkeys(t.domain for t in THEOREMS))
get_theorem = CATALOGUE.get
siblings = CATALOGUE.siblings


def catalogue_rows() -> list[dict]:
    """theorems.json: one row per theorem (id, name, domain, family, statement, slots, premises, templates)."""
    return [{**CATALOGUE.row(t), "templates": {"train": [x.id for x in t.family.templates_for("train")],
                                               "heldout": [x.id for x in t.family.templates_for("heldout")]}}
            for t in THEOREMS]


def tokenizer_corpus() -> str:
    """Every word the world can write, in both sentence cases, for training a tokenizer.

    It covers held-out templates, paraphrases, number words and reserved cue names too: a
    tokenizer trained on the training split alone would turn held-out wording into unknown
    tokens, and a perturbation would then test the tokenizer instead of the model.
    """
    texts = [vocabulary_text()]
    for theorem in THEOREMS:
        texts += [theorem.ask, *theorem.family.units, theorem.statement, theorem.name]
        for template in theorem.family.templates:
            for part in (template.setup, *template.givens, template.question):
                texts += [part, paraphrase(part)]
    words = sorted(set(re.findall(r"[A-Za-z']+|[^A-Za-z\s]", " ".join(texts))))
    cased = {w[:1].upper() + w[1:] for w in words} | {w[:1].lower() + w[1:] for w in words}
    return "\n".join(sorted(set(words) | cased))
