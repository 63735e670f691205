"""Answer extraction and grading, on top of math-verify.

`extract_answer(text)` pulls the final answer out of a model's output, trying in order: the last
`\\boxed{...}` (nested braces included), the last "Answer:" line, the last "####" line (GSM8K),
and the last number. `grade(prediction, reference)` decides whether a prediction (a full output
or a bare answer) matches the reference answer:

1. equal after light normalization (spaces, `$`, `\\left`/`\\right`, a trailing period);
2. TheoremQA-style typed answers, exactly: booleans (True/yes/correct), options ("(c)", "C"),
   lists compared element by element;
3. numbers: an integer reference needs the same number; a float reference accepts a relative
   error up to `rel_tol` (default 1%) - typed numbers in TheoremQA are rounded by their authors;
4. anything else: symbolic equivalence by math-verify, called with its signal-based timeouts
   switched off (`parsing_timeout=None`, `timeout_seconds=None`) so it is safe in threads and
   worker processes.
"""

from __future__ import annotations

import logging
import math
import re

from math_verify import parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:：]\s*(.+)", re.IGNORECASE)
_TRUE = {"true", "yes", "correct", "t", "y"}
_FALSE = {"false", "no", "incorrect", "f", "n"}


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...}, with nested braces; None if absent or unclosed."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        rest = text[start:].split(maxsplit=1)  # "\boxed 5" form
        return rest[1].split("$")[0].strip() if len(rest) > 1 else None
    depth = 0
    for i in range(brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : i]
    return None


def anchored_answer(text: str) -> str | None:
    """The answer behind an explicit anchor: last \\boxed{}, last "Answer:", last "####"; else None."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    lines = [m.group(1) for m in _ANSWER_LINE.finditer(text)]
    if lines:
        return lines[-1].strip().rstrip(".").strip()
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0].strip() if tail else None
    return None


def extract_answer(text: str) -> str | None:
    """The final answer in a model output (anchored, else the last number), or None."""
    anchored = anchored_answer(text)
    if anchored is not None:
        return anchored
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def looks_bare(text: str) -> bool:
    """True for a bare answer ('5', '(c)', 'True', '[0, 5]', '\\frac{1}{2}'), not a sentence."""
    words = re.sub(r"\\[A-Za-z]+", " ", text)
    return len(text) <= 80 and not re.search(r"[A-Za-z]{2,}[\s,.]+[A-Za-z]{2,}", words)


def normalize(answer: str) -> str:
    text = answer.strip().strip("$").strip()
    text = re.sub(r"\\(left|right|!|,|;|\s)", "", text)
    text = re.sub(r"\\(dfrac|tfrac)", r"\\frac", text)
    text = re.sub(r"\s+", "", text)
    return text.rstrip(".")


def to_number(text: str) -> float | None:
    """A plain number ('1,000', '-2.5', '3/4', '50%'), or None when the text is not one."""
    cleaned = text.strip().strip("$").replace(",", "").replace("\\%", "").rstrip("%").strip()
    cleaned = re.sub(r"^\\\$", "", cleaned)
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)(/\d+)?", cleaned):
        return None
    if "/" in cleaned:
        num, den = cleaned.split("/")
        return float(num) / float(den) if float(den) else None
    return float(cleaned)


def answer_type_of(reference: str) -> str:
    """bool | option | list | integer | float | expression, inferred from the reference's form."""
    ref = reference.strip()
    if ref.lower() in ("true", "false"):
        return "bool"
    if re.fullmatch(r"\(?[a-eA-E]\)", ref):
        return "option"
    if ref.startswith("[") and ref.endswith("]"):
        return "list"
    number = to_number(ref)
    if number is not None:
        return "integer" if number.is_integer() and "." not in ref else "float"
    return "expression"


def _numbers_match(pred: float, ref: float, integer: bool, rel_tol: float) -> bool:
    if integer:
        return pred == ref
    return math.isclose(pred, ref, rel_tol=rel_tol, abs_tol=1e-9)


def _bool_of(text: str) -> bool | None:
    word = normalize(text).lower().strip("().")
    return True if word in _TRUE else False if word in _FALSE else None


def _option_of(text: str) -> str | None:
    match = re.fullmatch(r"\(?([a-eA-E])\)?(?:\..*)?", normalize(text).replace("\\text{", "").rstrip("}"))
    return match.group(1).lower() if match else None


def _list_of(text: str) -> list[float] | None:
    inner = normalize(text).strip("[]()")
    items = [to_number(x) for x in inner.split(",")] if inner else []
    return None if any(x is None for x in items) else items  # type: ignore[return-value]


def _symbolic(pred: str, ref: str) -> bool:
    def wrap(s: str) -> str:
        return s if "$" in s or "\\boxed" in s else f"${s}$"

    gold = parse(wrap(ref), parsing_timeout=None)
    guess = parse(wrap(pred), parsing_timeout=None)
    return bool(gold) and bool(guess) and verify(gold, guess, timeout_seconds=None)


def grade(prediction: str, reference: str, answer_type: str | None = None, rel_tol: float = 1e-2) -> bool:
    """True when `prediction` (a model output or a bare answer) matches `reference`."""
    anchored = anchored_answer(prediction)
    if anchored is not None:
        pred = anchored
    elif looks_bare(prediction):
        pred = prediction.strip()
    else:
        pred = extract_answer(prediction) or ""
    if not pred.strip():
        return False
    kind = answer_type or answer_type_of(reference)
    if normalize(pred) == normalize(reference):
        return True
    if kind == "bool":
        return _bool_of(pred) is not None and _bool_of(pred) == _bool_of(reference)
    if kind == "option":
        return _option_of(pred) is not None and _option_of(pred) == _option_of(reference)
    if kind.startswith("list"):
        got, want = _list_of(pred), _list_of(reference)
        return (got is not None and want is not None and len(got) == len(want)
                and all(_numbers_match(g, w, False, rel_tol) for g, w in zip(got, want, strict=True)))
    ref_number, pred_number = to_number(reference), to_number(pred)
    if ref_number is not None and pred_number is not None:
        return _numbers_match(pred_number, ref_number, kind == "integer", rel_tol)
    return _symbolic(pred, reference)
