"""SFT targets: one problem set, one prompt format, three target styles. Only the target changes.

* `answer`   - the final answer alone:              " Answer: 70"
* `solution` - the arithmetic steps, no rule named:  "\\n180 - 80 = 100\\n100 - 30 = 70\\nAnswer: 70"
* `theorem`  - the paper's theorem application: the rule named and stated, its premises checked
  (Cond), its slots bound to the problem's objects (Map), the rule executed (Exec), then the
  answer. `solution` is the control the paper lacks: it shows the same steps without naming the
  rule, separating "naming the theorem" from "showing steps".

Every target ends with "Answer: <answer>", so one grader reads all three (`tasks.grade`). A target
a problem cannot render (no steps, no theorem annotation) raises `TargetError` naming the problem:
training on a silently different target would break the comparison.

The prompt is the same for every style (training.prompts builds it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tsft.tasks.schema import Problem, TheoremApplication
from tsft.tasks.world.catalogue import THEOREMS

TARGETS = ("answer", "solution", "theorem")
_THEOREM_LINE = re.compile(r"Theorem:\s*(.+?)\.(?:\s|$)")
_THEOREM_PROSE = re.compile(r"\b(?:theorem|formula|rule|principle|property|identity|algorithm)\s+(?:that\s+)?"
                            r"(?:(?:you|we|I)\s+)?(?:use|used|apply|applies|to use|to apply)?\s*(?:here\s+)?is\s+"
                            r"(?:the\s+)?([^.\n,:;]+)", re.IGNORECASE)
_GENERIC = {"theorem", "formula", "rule", "principle", "property", "identity", "law", "of", "the", "a", "an", "for",
            "to", "in", "and"}


class TargetError(ValueError):
    """The data cannot render the requested target style."""


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return target


def _premise(text: str, holds: bool | None) -> str:
    return text if holds is None else f"{text} ({'true' if holds else 'false'})"


def _binding(slot: str, obj: str, value) -> str:
    return f"{slot} = {obj}" if value is None else f"{slot} = {obj} = {value}"


def theorem_block(app: TheoremApplication) -> list[str]:
    """The lines of one theorem application: Theorem, Cond, Map, Exec, conclusion (what is known)."""
    lines = [f"Theorem: {app.name}. {app.statement}".rstrip()]
    if app.premises:
        lines.append("Cond: " + "; ".join(_premise(p.text, p.holds) for p in app.premises))
    if app.bindings:
        lines.append("Map: " + "; ".join(_binding(b.slot, b.object, b.value) for b in app.bindings))
    if app.exec_steps:
        lines.append("Exec: " + "; ".join(app.exec_steps))
    if app.conclusion:
        lines.append(f"So {app.conclusion}")
    return lines


def render_target(problem: Problem, target: str) -> str:
    """The text the model is trained to write after the prompt (leading space or newline included)."""
    answer = f"Answer: {problem.answer}"
    if target == "answer":
        return f" {answer}"
    if target == "solution":
        if not problem.steps:
            raise TargetError(f"problem {problem.id} has no solution steps: the 'solution' target needs them")
        return "\n" + "\n".join([*problem.steps, answer])
    if target == "theorem":
        if not problem.theorems:
            raise TargetError(f"problem {problem.id} has no theorem annotation: the 'theorem' target needs one "
                              "(supply annotations as a JSONL file for MATH/GSM8K)")
        return "\n" + "\n".join([line for app in problem.theorems for line in theorem_block(app)] + [answer])
    check_target(target)
    raise AssertionError("unreachable")


def check_renderable(problems: Sequence[Problem], target: str, where: str) -> None:
    """Raise `TargetError` naming `where` and the count when any problem cannot render `target`."""
    check_target(target)
    if not problems:
        raise TargetError(f"{where}: no problems to train on")
    bad = [p.id for p in problems if (target == "theorem" and not p.theorems)
           or (target == "solution" and not p.steps)]
    if bad:
        need = "theorem annotations" if target == "theorem" else "solution steps"
        raise TargetError(f"{where}: {len(bad)} of {len(problems)} problems have no {need}, so the {target!r} "
                          f"target cannot be rendered (first: {bad[0]})")


def named_theorem(output: str) -> str | None:
    """The first theorem a model output names: 'Theorem: <name>.' (the theorem target's form), else a prose
    naming such as 'The theorem you use is the Pythagorean Theorem' (how a pretrained model answers); or None."""
    match = _THEOREM_LINE.search(output) or _THEOREM_PROSE.search(output)
    return match.group(1).strip() if match else None


def _content_words(name: str) -> set[str]:
    words = re.findall(r"[a-z0-9']+", name.lower().replace("-", " "))
    return {w.removesuffix("'s").rstrip("s") for w in words if w not in _GENERIC}


def same_theorem(named: str, reference: str) -> bool:
    """Whether a named theorem is the reference: every content word of the reference's name (not 'theorem',
    'formula', 'rule'...) appears in the named one, so 'Angle Sum Property of a Triangle' is the 'triangle angle
    sum theorem' but 'Angle Sum Property' is not the 'exterior angle theorem'."""
    wanted = _content_words(reference)
    return bool(wanted) and wanted <= _content_words(named)


def theorem_statements() -> list[str]:
    return [f"Theorem: {t.name}. {t.statement}" for t in THEOREMS]


def format_vocabulary() -> str:
    """Words the SFT targets and the prompt add to the world's own text."""
    return ("Problem: Solution: Answer: Theorem: Cond: Map: Exec: So true false sqrt mod // = ; . , \n "
            + " ".join(theorem_statements()))
