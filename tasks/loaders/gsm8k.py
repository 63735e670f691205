"""GSM8K into the shared schema.

Rows are `question, answer`; the answer field is the worked solution, one step per line, with
calculator annotations `<<48/2=24>>`, ending in a line `#### 72`. The reference answer is what
follows `####` (thousands separators removed); the steps are the lines before it with the
annotations stripped. GSM8K names no theorems.
"""

from __future__ import annotations

import re
from pathlib import Path

from tsft.tasks.io import read_jsonl
from tsft.tasks.loaders.common import LoadResult, convert_rows, text_field
from tsft.tasks.schema import Problem, SchemaError

CALCULATOR_TAG = re.compile(r"<<[^<>]*>>")


def strip_calculator_tags(text: str) -> str:
    return CALCULATOR_TAG.sub("", text)


def worked_solution(row: dict, key: str) -> tuple[str, tuple[str, ...]]:
    """(final answer, steps) of a GSM8K-style worked solution in `row[key]`: the text after '####' (thousands
    separators removed), and the lines before it without calculator annotations."""
    worked = text_field(row, key)
    if "####" not in worked:
        raise SchemaError(key, "no '#### <answer>' line")
    body, final = worked.rsplit("####", 1)
    answer = final.strip().replace(",", "")
    if not answer:
        raise SchemaError(key, "nothing after '####'")
    return answer, tuple(s.strip() for s in strip_calculator_tags(body).splitlines() if s.strip())


def gsm8k_problem(row: dict, line: int) -> Problem:
    question = text_field(row, "question")
    answer, steps = worked_solution(row, "answer")
    return Problem(id=f"gsm8k/{line - 1:05d}", source="gsm8k", text=question, answer=answer, steps=steps,
                   meta={"split": "test"})


def load_gsm8k(path: str | Path, skip_invalid: bool = False) -> LoadResult:
    result = LoadResult()
    convert_rows(path, read_jsonl(path, lenient=True), gsm8k_problem, result.problems, result.skipped, skip_invalid)
    return result
