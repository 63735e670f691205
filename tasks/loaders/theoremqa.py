"""TheoremQA into the shared schema.

The test file is one JSON list of objects `Question, Answer, Answer_type (integer / float / bool /
list of integer / list of float / option), Picture, theorem, subfield, field, id, explanation`.
Each problem names the one theorem it needs: it becomes a theorem application whose statement
is the theorem's prose definition from `all_theorems.json` (keys match case-insensitively; the
file is looked for beside the test file unless given). Problems that need a picture are kept
and flagged (`meta.needs_picture`), since a text-only model cannot solve them.

Answers are stored as strings in a form `tasks.grade` reads back exactly: True / False, option
letters like (c), lists as JSON ("[0, 5]"), numbers as written.
"""

from __future__ import annotations

import json
from pathlib import Path

from tsft.tasks.io import DataError, read_json
from tsft.tasks.loaders.common import LoadResult, convert_rows, slug, text_field
from tsft.tasks.schema import Problem, SchemaError, TheoremApplication

ANSWER_TYPES = ("integer", "float", "bool", "list of integer", "list of float", "option")


def answer_string(answer: object, answer_type: str) -> str:
    if answer_type == "bool":
        if not isinstance(answer, bool):
            raise SchemaError("Answer", f"Answer_type bool needs true/false, got {answer!r}")
        return str(answer)
    if answer_type.startswith("list"):
        if not isinstance(answer, list):
            raise SchemaError("Answer", f"Answer_type {answer_type} needs a list, got {answer!r}")
        return json.dumps(answer)
    if answer_type == "option":
        if not isinstance(answer, str):
            raise SchemaError("Answer", f"Answer_type option needs a string, got {answer!r}")
        return answer.strip()
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        raise SchemaError("Answer", f"Answer_type {answer_type} needs a number, got {answer!r}")
    return str(answer)


def theoremqa_problem(row: dict, definitions: dict[str, str]) -> Problem:
    question = text_field(row, "Question")
    answer_type = row.get("Answer_type")
    if answer_type not in ANSWER_TYPES:
        raise SchemaError("Answer_type", f"expected one of {ANSWER_TYPES}, got {answer_type!r}")
    if "Answer" not in row:
        raise SchemaError("Answer", "missing")
    theorem = text_field(row, "theorem")
    picture = row.get("Picture") or None
    application = TheoremApplication(
        theorem_id=slug(theorem), name=theorem, statement=definitions.get(theorem.lower(), ""),
        conclusion="",
    )
    return Problem(
        id=text_field(row, "id"), source="theoremqa", text=question,
        answer=answer_string(row["Answer"], answer_type), theorems=(application,),
        meta={"split": "test", "answer_type": answer_type, "field": row.get("field", ""),
              "subfield": row.get("subfield", ""), "picture": picture, "needs_picture": picture is not None,
              "explanation": row.get("explanation", "")},
    )


def load_theoremqa(path: str | Path, skip_invalid: bool = False,
                   theorems_path: str | Path | None = None) -> LoadResult:
    path = Path(path)
    rows = read_json(path)
    if not isinstance(rows, list):
        raise DataError(path, None, f"expected a JSON list of problems, got {type(rows).__name__}")
    definitions_file = Path(theorems_path) if theorems_path else path.parent / "all_theorems.json"
    raw = read_json(definitions_file) if definitions_file.is_file() else {}
    if not isinstance(raw, dict):
        raise DataError(definitions_file, None, "expected a JSON object theorem name -> definition")
    definitions = {k.lower(): v for k, v in raw.items()}
    result = LoadResult()
    convert_rows(path, enumerate(rows, start=1), lambda row, _item: theoremqa_problem(row, definitions),
                 result.problems, result.skipped, skip_invalid, unit="item")
    used = dict.fromkeys(p.theorems[0].name for p in result.problems)
    result.theorems = [{"id": slug(name), "name": name, "statement": definitions.get(name.lower(), ""),
                        "defined": name.lower() in definitions} for name in used]
    return result
