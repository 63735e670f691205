"""MATH in both layouts, into the shared schema.

* MATH-500 (PRM800K's test subset): JSONL rows `problem, solution, answer, subject, level (int),
  unique_id`.
* The original release: one JSON object per problem (a folder tree of `.json` files, or JSONL
  rows) with `problem, level ("Level 3"), type, solution`; no `answer` field - the answer is the
  content of the last `\\boxed{...}` of the solution, nested braces included.

The layout is decided per row (an `answer` field means MATH-500). MATH names no theorems; the
solution's paragraphs become `steps`.
"""

from __future__ import annotations

import re
from pathlib import Path

from tsft.tasks.grading import last_boxed
from tsft.tasks.io import DataError, read_json, read_jsonl
from tsft.tasks.loaders.common import LoadResult, convert_rows, text_field
from tsft.tasks.schema import Problem, SchemaError


def parse_level(value: object) -> int | None:
    """5 -> 5; 'Level 5' -> 5; 'Level ?' -> None; anything else is a schema error."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(?:Level\s*)?(\d+|\?)\s*", value)
        if match:
            return None if match.group(1) == "?" else int(match.group(1))
    raise SchemaError("level", f"expected an int or 'Level N', got {value!r}")


def solution_steps(solution: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"\n\s*\n", solution) if part.strip())


def math_problem(row: dict, default_id: str) -> Problem:
    text, solution = text_field(row, "problem"), text_field(row, "solution")
    if "answer" in row:
        answer = text_field(row, "answer")
        subject = row.get("subject", row.get("type", ""))
        layout = "math500"
    else:
        boxed = last_boxed(solution)
        if boxed is None or not boxed.strip():
            raise SchemaError("solution", "no \\boxed{...} answer in the solution (original MATH layout)")
        answer, subject, layout = boxed.strip(), row.get("type", ""), "original"
    problem_id = row.get("unique_id", default_id)
    if not isinstance(problem_id, str):
        raise SchemaError("unique_id", f"expected a string, got {type(problem_id).__name__}")
    return Problem(
        id=problem_id, source="math", text=text, answer=answer, steps=solution_steps(solution),
        meta={"split": "test", "subject": subject, "level": parse_level(row.get("level", "Level ?")),
              "layout": layout},
    )


def load_math(path: str | Path, skip_invalid: bool = False) -> LoadResult:
    """A MATH-500 / original-layout JSONL file, or a folder tree of original `.json` files."""
    path, result = Path(path), LoadResult()
    if path.is_dir():
        files = sorted(path.rglob("*.json"))
        if not files:
            raise DataError(path, None, "folder holds no .json problem files")
        for file in files:
            relative = file.relative_to(path).with_suffix("").as_posix()
            convert_rows(file, [(1, read_json(file))], lambda row, _line, r=relative: math_problem(row, r),
                         result.problems, result.skipped, skip_invalid)
    else:
        convert_rows(path, read_jsonl(path, lenient=True), lambda row, line: math_problem(row, f"math/line-{line}"),
                     result.problems, result.skipped, skip_invalid)
    return result
