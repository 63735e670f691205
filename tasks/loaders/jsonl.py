"""Any JSONL file of problems, through a field map, into the shared schema.

A field map names, for each schema field, the key holding it in the file: for example
`text=question,answer=final_answer,id=uid`. Recognised schema fields:

| field    | required | meaning                                                              |
|----------|----------|----------------------------------------------------------------------|
| text     | yes      | the problem                                                          |
| answer   | yes      | the reference answer (numbers are turned into strings)               |
| id       | no       | a unique id (default: `<file stem>/<line>`)                          |
| steps    | no       | a list of strings, or one string split on newlines                   |
| theorem  | no       | one theorem name (becomes an application without statement)         |
| theorems | no       | a list of theorem applications in the schema's own form (annotations)|
| split    | no       | train or test (default test)                                         |

Unmapped fields keep their own key. Any other key of the row goes to `meta`. A file already in
the schema (as written by `tsft data build`) loads with an empty map. This is also how
theorem-SFT annotations for MATH or GSM8K are supplied: a `theorems` list per problem.
"""

from __future__ import annotations

from pathlib import Path

from tsft.tasks.io import read_jsonl
from tsft.tasks.loaders.common import LoadResult, convert_rows, slug
from tsft.tasks.schema import Problem, SchemaError, TheoremApplication

FIELDS = ("id", "text", "answer", "steps", "theorem", "theorems", "split")


def parse_field_map(spec: str | None) -> dict[str, str]:
    """'text=question,answer=final' -> {'text': 'question', 'answer': 'final'}."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"field map entry {part!r} is not of the form field=key")
        field_name, key = (s.strip() for s in part.split("=", 1))
        if field_name not in FIELDS:
            raise ValueError(f"field map names unknown field {field_name!r}; known: {', '.join(FIELDS)}")
        mapping[field_name] = key
    return mapping


def _steps(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(s for s in value.splitlines() if s.strip())
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise SchemaError(key, "expected a string or a list of strings")


def mapped_problem(row: dict, line: int, mapping: dict[str, str], stem: str) -> Problem:
    if all(k in row for k in ("id", "source", "text", "answer", "theorems", "steps", "surface", "meta")) \
            and not mapping:
        return Problem.from_dict(row)
    key = {f: mapping.get(f, f) for f in FIELDS}
    text, answer = row.get(key["text"]), row.get(key["answer"])
    if not isinstance(text, str) or not text.strip():
        raise SchemaError(key["text"], "missing or not a non-empty string")
    if answer is None or isinstance(answer, dict | list) or not str(answer).strip():
        raise SchemaError(key["answer"], "missing or not a scalar answer")
    problem_id = row.get(key["id"], f"{stem}/{line}")
    theorems: tuple[TheoremApplication, ...] = ()
    if key["theorems"] in row:
        listed = row[key["theorems"]]
        if not isinstance(listed, list):
            raise SchemaError(key["theorems"], "expected a list of theorem applications")
        theorems = tuple(TheoremApplication.from_dict(t, f"{key['theorems']}[{i}].") for i, t in enumerate(listed))
    elif key["theorem"] in row:
        name = str(row[key["theorem"]])
        theorems = (TheoremApplication(slug(name), name, "", conclusion=""),)
    used = {key[f] for f in FIELDS}
    return Problem(
        id=str(problem_id), source="jsonl", text=text, answer=str(answer).strip(), theorems=theorems,
        steps=_steps(row[key["steps"]], key["steps"]) if key["steps"] in row else (),
        meta={"split": str(row.get(key["split"], "test")), **{k: v for k, v in row.items() if k not in used}},
    )


def load_jsonl(path: str | Path, skip_invalid: bool = False, field_map: str | None = None) -> LoadResult:
    mapping, result = parse_field_map(field_map), LoadResult()
    stem = Path(path).stem
    convert_rows(path, read_jsonl(path, lenient=True), lambda row, line: mapped_problem(row, line, mapping, stem),
                 result.problems, result.skipped, skip_invalid)
    return result
