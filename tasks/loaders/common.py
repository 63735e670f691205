"""What every real-data loader shares: the result type and the row loop with located errors.

A loader turns a file into `Problem`s (and, for pair files, `Perturbation`s). A row it cannot
convert raises `SchemaError(field, reason)`; the loop adds file and line. Without
`skip_invalid` the first bad row stops the load with a `DataError` naming file, line and field;
with it, the row is skipped and recorded in `skipped` (which the manifest keeps).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsft.tasks.io import DataError, InvalidJSON
from tsft.tasks.schema import Perturbation, Problem, SchemaError


@dataclass
class LoadResult:
    problems: list[Problem] = field(default_factory=list)
    perturbations: list[Perturbation] = field(default_factory=list)
    theorems: list[dict] = field(default_factory=list)
    """Catalogue rows for theorems.json (definitions, concepts) where the source has them."""
    skipped: list[dict] = field(default_factory=list)
    """One record per skipped row: file, line, field, reason."""


def convert_rows(path: str | Path, rows: Iterable[tuple[int, object]], convert: Callable[[Any, int], object],
                 result: list, skipped: list[dict], skip_invalid: bool, unit: str = "line",
                 rows_are_json: bool = True) -> None:
    """Apply `convert(row, line)` to each row, appending results; bad rows raise or are recorded.

    JSON rows must be objects; `rows_are_json=False` passes other row types (package objects) through.
    """
    for line, row in rows:
        if isinstance(row, InvalidJSON):  # read_jsonl(lenient=True): a line that is not JSON at all
            if not skip_invalid:
                raise DataError(path, line, str(row))
            skipped.append({"file": str(path), unit: line, "field": None, "reason": str(row)})
            continue
        try:
            if rows_are_json and not isinstance(row, dict):
                raise SchemaError("<row>", f"expected a JSON object, got {type(row).__name__}")
            result.append(convert(row, line))
        except SchemaError as err:
            if not skip_invalid:
                raise DataError(path, line, str(err).split(": ", 1)[1], err.field, unit) from err
            skipped.append({"file": str(path), unit: line, "field": err.field,
                            "reason": str(err).split(": ", 1)[1]})


def id_field(row: dict, key: str) -> str:
    """A required identifier: a string or an integer (not a bool), as a string."""
    value = row.get(key)
    if key not in row:
        raise SchemaError(key, "missing")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise SchemaError(key, "expected a string or integer")
    return str(value)


def text_field(row: dict, key: str) -> str:
    """A required non-empty string field."""
    value = row.get(key)
    if key not in row:
        raise SchemaError(key, "missing")
    if not isinstance(value, str):
        raise SchemaError(key, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise SchemaError(key, "empty")
    return value


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def gather_pairs(path: str | Path, converted: Iterable[tuple[Problem, Perturbation]], result: LoadResult,
                 field_name: str) -> None:
    """Into `result`: each original once (one id with two different texts is an error naming the line and
    `field_name`), and every perturbation in file order."""
    originals: dict[str, Problem] = {}
    for original, perturbation in converted:
        known = originals.setdefault(original.id, original)
        if known.text != original.text:
            raise DataError(path, perturbation.problem.meta["line"],
                            f"{original.id} names two different original texts", field_name)
        result.perturbations.append(perturbation)
    result.problems = list(originals.values())
