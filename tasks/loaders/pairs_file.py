"""Perturbation pair files (GSM-Plus style and MATH-Perturb style) into originals + perturbations.

Each JSONL row is one perturbed problem linked to its original:

* GSM-Plus style: `question, answer, perturbation_type, seed_question, seed_answer` (optionally
  `solution`, `seed_solution`). Originals are identified by their text: rows sharing a
  `seed_question` share one original.
* One perturbed problem per row, MATH-Perturb-like: `problem, answer, perturbation_type` and the
  original as `original_id` with `original_problem, original_answer`.
* MATH-Perturb as released: one row per problem, `problem_id, original_problem, original_answer,
  simple_problem, simple_answer, hard_problem, hard_answer, type` (and `original_math_test_idx`
  where matched to the MATH test set): the original, and kinds `simple` and `hard` linked to it.
  Both variants change the answer: MATH-Perturb's perturbations are not answer-invariant.

Originals go to test.jsonl, perturbed rows to perturbed/<kind>.jsonl. Whether the answer changed
is decided by `tasks.grade` (a perturbed answer equivalent to the original's did not change).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tsft.tasks.grading import grade
from tsft.tasks.io import read_jsonl
from tsft.tasks.loaders.common import LoadResult, convert_rows, gather_pairs, id_field, slug, text_field
from tsft.tasks.schema import Perturbation, Problem, SchemaError


def _original(row: dict) -> tuple[str, str, str]:
    """(id, text, answer) of the row's original problem."""
    if "seed_question" in row:
        text = text_field(row, "seed_question")
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return f"pairs/{digest}", text, str(row.get("seed_answer", "")).strip() or _missing("seed_answer")
    if "original_id" in row:
        return (id_field(row, "original_id"), text_field(row, "original_problem"),
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


def math_perturb_rows(row: dict, line: int) -> list[tuple[Problem, Perturbation]]:
    """MATH-Perturb as released: one row holds the original and both variants (`simple_*`, `hard_*`)."""
    original_id = str(row.get("problem_id", "")).strip() or _missing("problem_id")
    meta = {k: row[k] for k in ("type", "original_math_test_idx") if row.get(k) is not None}
    original = Problem(id=original_id, source="pairs", text=text_field(row, "original_problem"),
                       answer=str(row.get("original_answer", "")).strip() or _missing("original_answer"),
                       meta={"split": "test", **meta})
    out = []
    for kind in ("simple", "hard"):
        if f"{kind}_problem" not in row:
            continue
        answer = str(row.get(f"{kind}_answer", "")).strip() or _missing(f"{kind}_answer")
        perturbed = Problem(id=f"{original_id}~{kind}", source="pairs", text=text_field(row, f"{kind}_problem"),
                            answer=answer, meta={"split": "test", "perturbation": kind, "line": line, **meta})
        out.append((original, Perturbation(original_id, kind, perturbed,
                                           answer_changed=not grade(answer, original.answer))))
    if not out:
        raise SchemaError("simple_problem", "a MATH-Perturb row needs simple_problem or hard_problem")
    return out


def row_pairs(row: dict, line: int) -> list[tuple[Problem, Perturbation]]:
    """The (original, perturbation) pairs of one row, whichever of the three layouts it has."""
    if "original_problem" in row and ("simple_problem" in row or "hard_problem" in row):
        return math_perturb_rows(row, line)
    return [pair_rows(row, line)]


def load_pairs(path: str | Path, skip_invalid: bool = False) -> LoadResult:
    rows: list[list[tuple[Problem, Perturbation]]] = []
    result = LoadResult()
    convert_rows(path, read_jsonl(path, lenient=True), row_pairs, rows, result.skipped, skip_invalid)
    gather_pairs(path, (pair for pairs in rows for pair in pairs), result, "original_id")
    return result
