"""The surface vocabulary of the synthetic world: names, letters, number words, synonyms and
distractor sentences.

Everything a surface perturbation may change comes from here, so the vocabulary a tokenizer
must cover is known (`vocabulary_text`). Cue names are reserved: they appear only where the
spurious-cue knob plants them, never as ordinary entity names.
"""

from __future__ import annotations

import re

NAMES = (
    "Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ida", "Jon", "Kai", "Lea", "Max", "Nia",
    "Omar", "Pia", "Quinn", "Raj", "Sara", "Tom", "Uma", "Vic", "Wes", "Yara", "Zoe", "Ali", "Bea",
    "Cole", "Dina", "Eli", "Faye", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lina", "Milo", "Nora", "Otto",
    "Priya", "Rosa", "Sven", "Tara", "Ugo", "Vera", "Wang", "Xia", "Yusuf", "Zara", "Abel", "Bruno", "Chen",
    "Dora", "Emil", "Fern", "Gil", "Hiro", "Iris", "Joel",
)
CUE_NAMES = (
    "Astrid", "Boris", "Cleo", "Dmitri", "Esme", "Felix", "Greta", "Hector", "Inga", "Jasper", "Kira",
    "Lorenzo", "Mira", "Nico", "Olga", "Pavel",
)

NOVEL_NAMES = (
    "Alma", "Bodhi", "Cyrus", "Delia", "Ezra", "Flora", "Gideon", "Hazel", "Ilya", "Juno", "Kenji", "Leif",
    "Mabel", "Nadia", "Orson", "Petra", "Rufus", "Selma", "Thea", "Ulric", "Vida", "Wren", "Xavi", "Yuri", "Zelda",
)
"""Names no training problem ever carries: `entity_rename_novel` draws from them (`entity_rename` draws from
NAMES, which training uses, so it gives fresh in-distribution samples, not a shift)."""

LETTER_POOLS = {
    "vertex": tuple("BCDEFGHJKLMNPQRSTUVWXYZ"),
    "label": tuple("BCDEFGHJKLMNPQRSTUVWXYZ"),
    "variable": tuple("bcdefghjkmnpqrstuvwxyz"),
}
NOVEL_LETTERS = {"vertex": tuple("AIO"), "label": tuple("AIO"), "variable": tuple("ailo")}
"""Letters no training problem uses, for `letter_rename_novel` (a family with more letter roles than these has
no novel renaming)."""

DISTRACTORS = (
    "{other} owns {k} cats.",
    "The room has {k} windows.",
    "{other} ate {k} apples earlier that day.",
    "It took {other} {k} minutes to get there.",
    "A nearby shop sells {k} kinds of tea.",
)

# Mild paraphrase: whole-word synonym swaps applied to a template before filling it.
SYNONYMS = (
    ("What is", "What's"), ("Find", "Determine"), ("Compute", "Calculate"), ("How large", "How big"),
    ("How many", "Exactly how many"), ("In how many ways", "In how many different ways"),
    ("draws", "sketches"), ("picks", "chooses"), ("looks at", "examines"), ("side", "edge"),
    ("equals", "is equal to"), ("gives", "yields"), ("thinks of", "imagines"), ("studies", "examines"),
    ("knows that", "is told that"), ("counts with", "counts using"), ("puts", "places"),
    ("sorts", "distributes"), ("cuts", "snips"), ("builds", "makes"), ("belongs to", "is owned by"),
    ("lists", "writes out"), ("is given", "receives"), ("works", "calculates"), ("takes", "raises"),
    ("computes", "evaluates"), ("packs", "prepares"), ("try", "sample"), ("arrive", "come in"),
    ("What remainder", "Which remainder"), ("At least", "At the very least"), ("At minimum", "At the least"),
    ("How long", "What length"), ("writes down", "notes down"), ("writes", "sets out"),
    ("has", "possesses"), ("holds", "contains"),
)


def _both_cases(pairs):
    for a, b in pairs:
        yield a, b
        if a[:1].isupper() and b[:1].isupper():
            yield a[:1].lower() + a[1:], b[:1].lower() + b[1:]


_SYNONYM_PATTERNS = tuple((re.compile(rf"\b{re.escape(a)}\b"), b) for a, b in _both_cases(SYNONYMS))

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"
)
_TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_to_words(n: int) -> str:
    """English words for 0 <= n < 1_000_000 ('forty-two', 'one hundred five')."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("-" + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        return number_to_words(thousands) + " thousand" + (" " + number_to_words(rest) if rest else "")
    raise ValueError(f"{n} is too large to write in words here")


def paraphrase(template_text: str) -> str:
    """Apply the synonym table (whole words, left to right, each pattern once over the text)."""
    for pattern, replacement in _SYNONYM_PATTERNS:
        template_text = pattern.sub(replacement, template_text)
    return template_text


def vocabulary_text() -> str:
    """Every surface word the world can produce outside templates (for tokenizer training).

    Vertex letters are written together ("triangle PQR"): a word-level tokenizer must split runs
    of capitals into single letters, or it will see "PQR" as one unknown word.
    """
    words = [*NAMES, *CUE_NAMES, *NOVEL_NAMES, *LETTER_POOLS["vertex"], *LETTER_POOLS["variable"],
             *NOVEL_LETTERS["vertex"], *NOVEL_LETTERS["variable"], *DISTRACTORS]
    words += [b for _, b in SYNONYMS] + [number_to_words(n) for n in range(0, 100)] + ["hundred", "thousand"]
    return "\n".join(words)
