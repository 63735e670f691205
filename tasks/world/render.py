"""Turn a theorem and a surface description into problem text.

The text of a synthetic problem is a pure function of its theorem and its `surface` dict, so a
perturbation only edits the surface and renders again; the answer is recomputed by the rule.

Layout: "<setup> <givens joined>. [<distractor>] <question>". A mild paraphrase swaps synonyms in
the template and moves the question first (a clause-order change).
"""

from __future__ import annotations

from collections.abc import Sequence

from tsft.tasks.world.surface import DISTRACTORS, number_to_words, paraphrase
from tsft.tasks.world.theorem import Theorem


def join_clauses(clauses: Sequence[str]) -> str:
    if len(clauses) <= 2:
        return " and ".join(clauses)
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def format_number(value: int, number_format: str) -> str:
    if number_format == "digits":
        return str(value)
    if number_format == "words":
        return number_to_words(value)
    raise ValueError(f"unknown number format {number_format!r} (expected 'digits' or 'words')")


def render(theorem: Theorem, surface: dict) -> str:
    """The problem text for `theorem` under `surface` (see tasks.world.generate for the keys)."""
    template = theorem.family.template(surface["template"])
    number_format = surface["number_format"]
    fill = {
        **surface["letters"],
        **{key: format_number(value, number_format) for key, value in surface["values"].items()},
        "name": surface["name"],
        "unit": surface["unit"],
        "ask": theorem.ask,
    }
    edit = paraphrase if surface["paraphrase"] else (lambda text: text)
    setup = edit(template.setup).format(**fill)
    givens = join_clauses([edit(template.givens[i]).format(**fill) for i in surface["order"]])
    question = sentence_case(edit(template.question).format(**fill))
    if not setup:
        statement = sentence_case(givens)
    elif setup.endswith("."):
        statement = f"{sentence_case(setup)} {sentence_case(givens)}"
    else:
        statement = f"{sentence_case(setup)} {givens}"
    sentences = [statement + "."]
    distractor = surface.get("distractor")
    if distractor:
        other, k = distractor["other"], format_number(distractor["number"], number_format)
        sentences.append(sentence_case(DISTRACTORS[distractor["index"]].format(other=other, k=k)))
    if surface["paraphrase"]:
        return " ".join([question, *sentences])
    return " ".join([*sentences, question])
