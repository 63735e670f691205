"""What the analysis needs to know about each evaluated problem, read from the data folders the evaluations used.

One row per problem (test originals and every perturbed version), keyed by `problem_id`:

* `template`      - the wording the problem was instantiated from (synthetic: `surface.template`; GSM-Symbolic:
  `meta.template`), the random effect of the mixed model and F8's instance groups;
* `magnitude`     - log10(1 + the largest number the problem states): the synthetic world's given values, else
  every number written in the text. Perturbations that change wording often change number sizes too, so a
  model of accuracy must separate the two (analysis.mixed);
* `answer_length` - characters of the reference answer;
* `trace`         - the problem's own theorem applications as JSON (Cond, Map, Exec), what analysis.traces
  scores a generated theorem application against; `steps` - its solution steps as JSON;
* `text`          - the problem as asked (analysis.contamination looks for it in generations).

A data folder that cannot be read (moved, edited) contributes nothing: the tables that need it come out empty.
"""

from __future__ import annotations

import json
import math
import re

import pandas as pd
from tsft.tasks.dataset import load_dataset
from tsft.tasks.io import DataError

PROBLEM_COLUMNS = ["problem_id", "original_id", "kind", "template", "magnitude", "answer_length", "trace", "steps",
                   "text", "data"]
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def magnitude(problem) -> float:
    """log10(1 + the largest number the problem states): its given values when the world records them, else
    every number in its text (0 when it states none)."""
    values = [v for v in (problem.surface.get("values") or {}).values() if isinstance(v, int | float)]
    if not values:
        values = [float(n) for n in _NUMBER.findall(problem.text)]
    return math.log10(1 + max((abs(v) for v in values), default=0.0))


def template_of(problem) -> str | None:
    return problem.surface.get("template") or problem.meta.get("template")


def problem_row(problem, original_id: str, kind: str, data: str) -> dict:
    return {"problem_id": problem.id, "original_id": original_id, "kind": kind, "template": template_of(problem),
            "magnitude": magnitude(problem), "answer_length": len(problem.answer),
            "trace": json.dumps([app.to_dict() for app in problem.theorems]), "steps": json.dumps(list(problem.steps)),
            "text": problem.text, "data": data}


def problem_facts(data_dirs) -> pd.DataFrame:
    """Every test original and perturbed problem of each data folder (see the module docstring)."""
    rows = []
    for data in sorted(d for d in data_dirs if d):
        try:
            dataset = load_dataset(data)
        except (DataError, OSError):
            continue
        rows += [problem_row(p, p.id, "original", data) for p in dataset.test]
        rows += [problem_row(r.problem, r.original_id, kind, data)
                 for kind, perturbed in sorted(dataset.perturbed.items()) for r in perturbed]
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS).drop_duplicates("problem_id")


def original_templates(problems: pd.DataFrame) -> pd.DataFrame:
    """problem_id -> template of the test originals that have one (F8's instance groups)."""
    originals = problems[(problems["kind"] == "original") & problems["template"].notna()]
    return originals[["problem_id", "template"]].reset_index(drop=True)


def cluster_templates(problems: pd.DataFrame | None) -> pd.DataFrame | None:
    """problem_id -> template of the test originals (the clusters of analysis.accuracy.arm_difference), where the
    facts have them; else None."""
    if problems is None or not len(problems) or "template" not in problems:
        return None
    return original_templates(problems) if "kind" in problems else problems[["problem_id", "template"]]
