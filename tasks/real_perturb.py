"""Answer-invariant perturbations that are safe on real problem text (MATH, GSM8K, TheoremQA...).

Real text has no surface record, so each kind checks that it is safe for an item and otherwise
raises `NotApplicable` with the reason; the build counts skips per kind and reason instead of
applying a kind wrongly.

* entity_rename: every person name from lists of common first names is replaced, whole word and
  consistently, by an unused name of the same group (female, male, either), so pronouns still
  fit. Unsafe when no listed name occurs, or a name occurs in the answer.
* distractor: an irrelevant sentence with a number is inserted before the final (question)
  sentence (at a boundary outside math), or first in a one-sentence problem. Unsafe with
  Asymptote diagrams.
* variable_rename: single-letter variables inside LaTeX math ($...$, \\(...\\), \\[...\\]) are
  renamed consistently to letters the problem does not use, in the text and the solution steps.
  Unsafe without math, when a `$...$` span holds prose (GSM8K's dollar amounts), with diagrams,
  or when a letter also occurs in `\\text{...}`, in the answer, outside the math, or inside a
  multi-letter run such as `xy` or `dt` (a product or a differential would be half renamed).
  e, i, d and o are never renamed (constants and differentials).
"""

from __future__ import annotations

import random
import re

from tsft.tasks.perturbing import NotApplicable, apply_kinds
from tsft.tasks.schema import Perturbation, Problem

# Names are renamed within their group, so pronouns stay right ("Janet ... She" -> "Emma ... She").
NAME_GROUPS = (  # female, male, either
    (
        "Abby", "Alexa", "Alice", "Alicia", "Amanda", "Amber", "Amelia", "Amy", "Andrea", "Angela", "Ann",
        "Anna", "Anne", "Ashley", "Audrey", "Ava", "Bella", "Beth", "Betty", "Brenda", "Brittany", "Brooke",
        "Carla", "Carmen", "Carol", "Caroline", "Catherine", "Chloe", "Christina", "Cindy", "Claire", "Cynthia",
        "Daisy", "Debbie", "Diana", "Diane", "Donna", "Doris", "Dorothy", "Elena", "Elizabeth", "Ella", "Ellen",
        "Emily", "Emma", "Erica", "Erin", "Eva", "Evelyn", "Gina", "Grace", "Hannah", "Heather", "Helen",
        "Holly", "Isabella", "Jane", "Janet", "Jenna", "Jennifer", "Jenny", "Jessica", "Jill", "Joan", "Joy",
        "Joyce", "Judy", "Julia", "Julie", "Karen", "Kate", "Katie", "Kayla", "Kelly", "Laura", "Lauren",
        "Leah", "Lily", "Linda", "Lisa", "Lucy", "Mandy", "Maria", "Martha", "Mary", "Megan", "Melissa", "Mia",
        "Michelle", "Monica", "Nancy", "Natalie", "Nicole", "Olivia", "Pam", "Paula", "Rachel", "Rebecca",
        "Rita", "Rose", "Ruby", "Ruth", "Sally", "Samantha", "Sandra", "Sara", "Sarah", "Sharon", "Sophia",
        "Sophie", "Stacy", "Susan", "Tara", "Teresa", "Tina", "Tracy", "Valerie", "Victoria", "Wendy", "Zoe"
    ),
    (
        "Aaron", "Adam", "Adrian", "Aiden", "Alan", "Albert", "Andre", "Andrew", "Andy", "Anthony", "Ben",
        "Benjamin", "Bill", "Billy", "Bob", "Bobby", "Brad", "Brandon", "Brian", "Bruce", "Caleb", "Carl",
        "Carlos", "Carter", "Charles", "Chris", "Christopher", "Colin", "Connor", "Craig", "Daniel", "Danny",
        "Darren", "David", "Dean", "Derek", "Donald", "Douglas", "Dylan", "Eddie", "Edward", "Eli", "Elijah",
        "Eric", "Ethan", "Evan", "Frank", "Fred", "Gabriel", "Gary", "George", "Greg", "Harold", "Harry",
        "Henry", "Ian", "Isaac", "Jack", "Jacob", "Jake", "James", "Jason", "Jeff", "Jeremy", "Jerry", "Jim",
        "Jimmy", "Joe", "Joel", "John", "Johnny", "Jon", "Jonathan", "Jose", "Joseph", "Josh", "Joshua", "Juan",
        "Justin", "Keith", "Ken", "Kevin", "Kyle", "Leo", "Liam", "Logan", "Lucas", "Luke", "Marcus", "Mark",
        "Martin", "Mason", "Matt", "Matthew", "Michael", "Mike", "Nathan", "Nick", "Noah", "Oscar", "Owen",
        "Patrick", "Paul", "Peter", "Phil", "Ralph", "Randy", "Ray", "Richard", "Rick", "Robert", "Roger",
        "Ron", "Russell", "Ryan", "Samuel", "Scott", "Sean", "Seth", "Stephen", "Steve", "Steven", "Thomas",
        "Tim", "Timothy", "Todd", "Tom", "Tommy", "Tony", "Travis", "Tyler", "Victor", "Vincent", "Walter",
        "Wayne", "William", "Zach", "Zachary"
    ),
    (
        "Alex", "Alexis", "Jackie", "Jamie", "Jan", "Jean", "Jordan", "Kim", "Lee", "Robin", "Sam", "Taylor",
        "Terry", "Dale"
    ),
)
FIRST_NAMES = tuple(n for group in NAME_GROUPS for n in group)
_GROUP_OF = {n: group for group in NAME_GROUPS for n in group}
_DISTRACTORS = (
    "A nearby shop sells {k} kinds of tea.",
    "The weather report mentioned {k} cloudy days last month.",
    "There are {k} chairs in the hallway.",
)
_MATH = re.compile(r"\$\$.+?\$\$|\$.+?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
_LETTER = re.compile(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])")
_TEXT_BLOCK = re.compile(r"\\(?:text|textbf|mbox|mathrm|mathbb|operatorname)\{[^{}]*\}")
_FIXED_LETTERS = frozenset("eido")
_ENGLISH_LETTERS = frozenset("aAI")  # standalone outside math these are words, not variables
_RENAME_POOL = "pqrstuvwxyzabcghjkmnPQRSTUVWXYZBCGHJKMN"
_RUN = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}(?![A-Za-z])")


def _capitalized_words(text: str) -> set[str]:
    return set(re.findall(r"\b[A-Z][a-z]+\b", text))


def _entity_rename(problem: Problem, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    in_text = _capitalized_words(problem.text)
    present = [n for n in FIRST_NAMES if n in in_text]
    if not present:
        raise NotApplicable("no listed person name in the text")
    if _capitalized_words(problem.answer) & set(present):
        raise NotApplicable("a person name occurs in the answer")
    taken = in_text | _capitalized_words(" ".join(problem.steps))
    mapping: dict[str, str] = {}
    for name in present:
        unused = [n for n in _GROUP_OF[name] if n not in mapping.values() and n not in taken]
        mapping[name] = rng.choice(unused)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, present)) + r")\b")

    def swap(text: str) -> str:
        return pattern.sub(lambda m: mapping[m.group(1)], text)

    return swap(problem.text), tuple(swap(s) for s in problem.steps)


def _math_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _MATH.finditer(text)]


def _distractor(problem: Problem, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    if "[asy]" in problem.text:
        raise NotApplicable("the text holds an Asymptote diagram")
    text = problem.text.rstrip()
    spans = _math_spans(text)
    boundaries = [m.end() for m in re.finditer(r"[.!?](?=\s+[A-Z])", text)
                  if not any(a <= m.start() < b for a, b in spans)]
    sentence = rng.choice(_DISTRACTORS).format(k=rng.randint(2, 9))
    if not boundaries:  # a one-sentence problem: the distractor goes first
        return f"{sentence} {text}", problem.steps
    cut = boundaries[-1]
    return f"{text[:cut]} {sentence}{text[cut:]}", problem.steps


def _variable_rename(problem: Problem, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    if "[asy]" in problem.text:
        raise NotApplicable("the text holds an Asymptote diagram")
    segments = _MATH.findall(problem.text)
    if not segments:
        raise NotApplicable("no LaTeX math in the text")
    if any(_PROSE.search(_TEXT_BLOCK.sub(" ", s)) for s in segments):
        raise NotApplicable("dollar signs enclose prose (currency, not math)")
    letters = sorted({m for s in segments for m in _LETTER.findall(_TEXT_BLOCK.sub(" ", s))} - _FIXED_LETTERS)
    if not letters:
        raise NotApplicable("no single-letter variable in the math")
    in_text_blocks = {m for s in segments for b in _TEXT_BLOCK.findall(s) for m in _LETTER.findall(b[1:])}
    if in_text_blocks & set(letters):
        raise NotApplicable("a variable letter also occurs inside \\text{...}")
    if set(_LETTER.findall(problem.answer)) & set(letters):
        raise NotApplicable("a variable occurs in the answer")
    runs = {r for s in segments for r in _RUN.findall(_TEXT_BLOCK.sub(" ", s))}
    if any(set(run) & set(letters) for run in runs):
        raise NotApplicable("a variable letter also occurs in a multi-letter run (xy, dt, sin) in the math")
    outside = set(_LETTER.findall(_MATH.sub(" ", problem.text))) - _ENGLISH_LETTERS
    if outside & set(letters):
        raise NotApplicable("a variable letter also occurs outside the math")
    everything = problem.text + " ".join(problem.steps)
    used = {m for s in _MATH.findall(everything) for m in _LETTER.findall(s)}
    mapping: dict[str, str] = {}
    for letter in letters:  # same case in, same case out
        pool = [c for c in _RENAME_POOL if c.isupper() == letter.isupper() and c not in used
                and c not in mapping.values()]
        if not pool:
            raise NotApplicable("not enough unused letters to rename into")
        mapping[letter] = rng.choice(pool)

    def rename_math(segment: re.Match) -> str:
        return _LETTER.sub(lambda m: mapping.get(m.group(1), m.group(1)), segment.group(0))

    def rename(text: str) -> str:
        return _MATH.sub(rename_math, text)

    return rename(problem.text), tuple(rename(s) for s in problem.steps)


KINDS = {"entity_rename": _entity_rename, "distractor": _distractor, "variable_rename": _variable_rename}


def perturb_real(problem: Problem, kind: str, seed: int | str = 0) -> Perturbation:
    """Apply an answer-invariant kind to a real problem, or raise NotApplicable with the reason."""
    if kind not in KINDS:
        raise KeyError(f"unknown real-text perturbation {kind!r}; known: {', '.join(KINDS)}")
    text, steps = KINDS[kind](problem, random.Random(f"{seed}/{problem.id}/{kind}"))
    perturbed = Problem(id=f"{problem.id}~{kind}", source=problem.source, text=text, answer=problem.answer,
                        theorems=problem.theorems, steps=steps, surface=problem.surface,
                        meta={**problem.meta, "perturbation": kind})
    return Perturbation(problem.id, kind, perturbed, answer_changed=False)


def perturb_real_all(problems: list[Problem], seed: int | str = 0
                     ) -> tuple[dict[str, list[Perturbation]], dict[str, dict[str, int]]]:
    """Every real-text kind on every problem: (perturbations per kind, skip counts per kind and reason)."""
    return apply_kinds(problems, list(KINDS), perturb_real, seed)
