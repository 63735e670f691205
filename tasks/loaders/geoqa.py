"""GeoQA-format geometry problems (GeoQA, GeoQA+, UniGeo's calculation split) with their diagrams.

Two layouts are read:

* a folder of per-problem `<id>.json` files with the figure beside each (`<id>.png`), as in
  GeoQA+'s `json-image_files`;
* one `.jsonl` (or a `.json` list) whose rows name their figure in `image`, relative to the file.

Fields of a row: the text in `English_problem` (else `problem`, else `question`), `choices` (list
of strings), the correct choice as `label` (0-based index) or `answer` (a letter A-D or the
choice's text), optional `manual_program` (GeoQA's operator program, e.g. ["g_minus", "C_3",
"N_0"]), `numbers`, `subject` and `id`. The answer is the correct choice with its unit stripped
("40°" -> "40", "5cm" -> "5"); the choices, program and numbers are kept in `meta`. GeoQA has
no theorem annotations, so the `theorem` target needs a JSONL of annotations as for MATH.

GeoQA's own release also ships pickles (`*.pk`); tsft does not unpickle files, so convert them
to JSON first. Each figure is copied into the data folder's `images/` by `tsft data build`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tsft.tasks.io import DataError, read_json, read_jsonl
from tsft.tasks.loaders.common import LoadResult, convert_rows
from tsft.tasks.schema import Problem, SchemaError

TEXT_KEYS = ("English_problem", "problem", "question")
_UNIT = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?(?:/\d+)?|√\d+|\d*√\d+)\s*(?:°|度|cm|m|厘米|米)?\s*$")


def _text(row: dict) -> str:
    for key in TEXT_KEYS:
        if isinstance(row.get(key), str) and row[key].strip():
            return row[key].strip()
    raise SchemaError(TEXT_KEYS[0], f"missing: a GeoQA row needs one of {', '.join(TEXT_KEYS)}")


def _answer(row: dict) -> tuple[str, int]:
    choices = row.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str | int | float) for c in choices):
        raise SchemaError("choices", "expected a non-empty list of strings")
    choices = [str(c) for c in choices]
    if "label" in row:
        label = row["label"]
        if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(choices):
            raise SchemaError("label", f"expected an index 0-{len(choices) - 1}, got {label!r}")
    elif isinstance(row.get("answer"), str):
        answer = row["answer"].strip()
        letters = "ABCDEFGH"[:len(choices)]
        if len(answer) == 1 and answer.upper() in letters:
            label = letters.index(answer.upper())
        elif answer in choices:
            label = choices.index(answer)
        else:
            raise SchemaError("answer", f"{answer!r} is neither a choice letter nor one of the choices")
    else:
        raise SchemaError("label", "missing: give `label` (choice index) or `answer`")
    match = _UNIT.match(choices[label])
    return (match.group(1) if match else choices[label].strip()), label


def _convert(row: dict, image_dir: Path, default_id: str, default_image: str | None) -> Problem:
    answer, label = _answer(row)
    image_name = row.get("image", default_image)
    if not isinstance(image_name, str) or not image_name:
        raise SchemaError("image", "missing: each GeoQA problem needs its figure")
    image = image_dir / image_name
    if not image.is_file():
        raise SchemaError("image", f"figure {image} not found")
    program = row.get("manual_program") or []
    if not isinstance(program, list):
        raise SchemaError("manual_program", "expected a list of operator tokens")
    problem_id = str(row.get("id", default_id))
    return Problem(id=f"geoqa-{problem_id}", source="geoqa", text=_text(row), answer=answer,
                   steps=(), meta={"split": row.get("split", "test"), "subject": row.get("subject"),
                                   "choices": [str(c) for c in row["choices"]], "label": label,
                                   "program": [str(t) for t in program], "numbers": row.get("numbers", [])},
                   image=str(image.resolve()))


def _folder_rows(folder: Path):
    files = sorted(folder.glob("*.json"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise DataError(folder, None, "no <id>.json files (expected GeoQA+'s json-image_files layout)")
    for path in files:
        try:
            yield path, json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(path, err.lineno, f"invalid JSON ({err.msg} at column {err.colno})") from err


def load_geoqa(path: str | Path, skip_invalid: bool = False) -> LoadResult:
    """Problems with their figures from a GeoQA folder or JSONL/JSON file (see the module docstring)."""
    path, result = Path(path), LoadResult()
    if path.is_dir():
        for file, row in _folder_rows(path):
            convert_rows(file, [(1, row)], lambda r, _line, s=file.stem: _convert(r, path, s, f"{s}.png"),
                         result.problems, result.skipped, skip_invalid)
    elif path.suffix == ".jsonl":
        convert_rows(path, read_jsonl(path, lenient=True), lambda r, line: _convert(r, path.parent, str(line), None),
                     result.problems, result.skipped, skip_invalid)
    elif path.suffix == ".json":
        rows = read_json(path)
        if not isinstance(rows, list):
            raise DataError(path, None, "expected a JSON list of GeoQA problems")
        convert_rows(path, enumerate(rows, start=1), lambda r, item: _convert(r, path.parent, str(item), None),
                     result.problems, result.skipped, skip_invalid, unit="item")
    else:
        raise DataError(path, None, "expected a folder of <id>.json + figures, a .jsonl or a .json list")
    return result

