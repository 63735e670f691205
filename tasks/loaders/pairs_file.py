"""Perturbation pair files (GSM-Plus style and MATH-Perturb style) into originals + perturbations.

Each JSONL row is one perturbed problem linked to its original:

* GSM-Plus style: `question, answer, perturbation_type, seed_question, seed_answer` (optionally
  `solution`, `seed_solution`). Originals are identified by their text: rows sharing a
  `seed_question` share one original.
* MATH-Perturb style: `problem, answer, perturbation_type` (e.g. simple / hard) and the original
  as `original_id` with `original_problem, original_answer`.

Originals go to test.jsonl, perturbed rows to perturbed/<kind>.jsonl. Whether the answer changed
is decided by `tasks.grade` (a perturbed answer equivalent to the original's did not change).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tasks.grading import grade
from tasks.io import DataError, read_jsonl
from tasks.loaders.common import LoadResult, convert_rows, slug, text_field
from tasks.schema import Perturbation, Problem, SchemaError


def _original(row: dict) -> tuple[str, str, str]:
    """(id, text, answer) of the row's original problem."""
    if "seed_question" in row:
        text = text_field(row, "seed_question")
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return f"pairs/{digest}", text, str(row.get("seed_answer", "")).strip() or _missing("seed_answer")
    if "original_id" in row:
        original_id = row["original_id"]
        if not isinstance(original_id, str | int) or isinstance(original_id, bool):
            raise SchemaError("original_id", "expected a string or integer")
        return (str(original_id), text_field(row, "original_problem"),
                str(row.get("original_answer", "")).strip() or _missing("original_answer"))
    raise SchemaError("seed_question", "a pair row needs seed_question (GSM-Plus style) or original_id "
                                       "(MATH-Perturb style)")


def _missing(field_name: str) -> str:
    raise SchemaError(field_name, "missing or empty")


def pair_rows(row: dict, line: int) -> tuple[Problem, Perturbation]:
    original_id, original_text, original_answer = _original(row)
    text = row["question"] if "question" in row else text_field(row, "problem")
    if not isinstance(text, str) or not text.strip():
        raise SchemaError("question", "missing or empty")
    answer = str(row.get("answer", "")).strip() or _missing("answer")
    kind = slug(text_field(row, "perturbation_type"))
    original = Problem(id=original_id, source="pairs", text=original_text, answer=original_answer,
                       meta={"split": "test"})
    perturbed = Problem(id=f"{original_id}~{kind}~{line}", source="pairs", text=text, answer=answer,
                        meta={"split": "test", "perturbation": kind, "line": line})
    changed = not grade(answer, original_answer)
    return original, Perturbation(original_id, kind, perturbed, answer_changed=changed)


def load_pairs(path: str | Path, skip_invalid: bool = False) -> LoadResult:
    converted: list[tuple[Problem, Perturbation]] = []
    result = LoadResult()
    convert_rows(path, read_jsonl(path, lenient=True), pair_rows, converted, result.skipped, skip_invalid)
    originals: dict[str, Problem] = {}
    for original, perturbation in converted:
        known = originals.setdefault(original.id, original)
        if known.text != original.text:
            raise DataError(path, perturbation.problem.meta["line"],
                            f"{original.id} names two different original texts", "original_id")
        result.perturbations.append(perturbation)
    result.problems = list(originals.values())
    return result
