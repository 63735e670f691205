"""CHAMP (the `champ-dataset` package) into the shared schema.

CHAMP has 270 competition problems and 89 concepts (theorems, 39 of them named, such as
"Fermat's little theorem") plus hints. Each solution step lists `ch_idxs`, indexes into its
problem's `ch_list` of concept (`C_...`) and hint (`H_...`) ids. Every concept a step cites
becomes a theorem application with `step_index` pointing at that step, in step order; hints are
not theorems and are kept in `meta.hints`. The `@@` math markers are removed (the package's own
`.text`).

Without a path the package's bundled `v0` release is loaded; a path loads a JSON file of the
same format.
"""

from __future__ import annotations

from pathlib import Path

from tsft.tasks.io import DataError
from tsft.tasks.loaders.common import LoadResult, convert_rows
from tsft.tasks.schema import Problem, SchemaError, TheoremApplication


def _concept_row(concept) -> dict:
    return {"id": concept.identifier, "name": concept.name or "", "category": concept.category,
            "statement": concept.text, "parent": concept.parent.identifier if concept.parent else None}


def champ_problem(problem, concepts: dict) -> Problem:
    if not isinstance(problem.text, str) or not problem.text.strip():
        raise SchemaError("_raw_text", "missing or empty problem text")
    if not isinstance(problem.answer, str):
        raise SchemaError("_raw_answer", "missing answer")
    steps, applications = [], []
    for index, step in enumerate(problem.solution.steps if problem.solution else ()):
        steps.append(step.text)
        for ch in step.ch_idxs:
            if not 0 <= ch < len(problem.ch_list):
                raise SchemaError(f"solution.steps[{index}].ch_idxs", f"index {ch} outside ch_list")
            identifier = problem.ch_list[ch]
            if identifier.startswith("C_"):
                if identifier not in concepts:
                    raise SchemaError(f"ch_list[{ch}]", f"unknown concept {identifier}")
                concept = concepts[identifier]
                applications.append(TheoremApplication(
                    theorem_id=identifier, name=concept.name or identifier, statement=concept.text,
                    conclusion="", step_index=index))
    return Problem(
        id=problem.identifier, source="champ", text=problem.text, answer=problem.answer,
        theorems=tuple(applications), steps=tuple(steps),
        meta={"split": "test", "category": problem.category,
              "hints": [c for c in problem.ch_list if c.startswith("H_")]},
    )


def load_champ(path: str | Path | None = None, skip_invalid: bool = False) -> LoadResult:
    import champ_dataset

    source = str(path) if path else "v0"
    if path and not Path(path).is_file():
        raise DataError(path, None, "file not found")
    try:
        dataset = champ_dataset.load(source)
    except (KeyError, TypeError, AssertionError, ValueError) as err:
        raise DataError(source, None, f"not a CHAMP dataset file: {err}") from err
    concepts = dataset.concepts or {}
    result = LoadResult(theorems=[_concept_row(c) for c in concepts.values()])
    problems = list((dataset.problems or {}).values())
    convert_rows(source, enumerate(problems, start=1), lambda p, _item: champ_problem(p, concepts),
                 result.problems, result.skipped, skip_invalid, unit="item", rows_are_json=False)
    return result
