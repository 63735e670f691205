"""GSM-Symbolic's generated files, as released: templates over GSM8K problems, many instances each.

Each row is one instance: `id` (the template: one per GSM8K original), `instance` (its number),
`question` and `answer` (GSM8K style, ending in `#### <answer>`), `original_id`,
`original_question`, `original_answer` (the GSM8K problem the template was written from) and
`canary` (the benchmark's contamination marker). Loaded as:

* the GSM8K originals as test problems (`gsm-symbolic/original-<original_id>`), once each;
* every instance as a perturbation of its original, of kind `symbolic_<file stem>` (the release
  has one file per variant: the main set and the harder P1 / P2 sets), with the template id, the
  instance number and the canary kept in its meta, so a distribution over instances of one
  template can be read (and a mixed-effects model can group by template and original).

Whether an instance's answer differs from its original's is decided by `tasks.grade` (it usually
does: the numbers change).
"""

from __future__ import annotations

from pathlib import Path

from tsft.tasks.grading import grade
from tsft.tasks.io import read_jsonl
from tsft.tasks.loaders.common import LoadResult, convert_rows, gather_pairs, id_field, slug, text_field
from tsft.tasks.loaders.gsm8k import worked_solution
from tsft.tasks.schema import Perturbation, Problem


def instance_rows(row: dict, line: int, kind: str) -> tuple[Problem, Perturbation]:
    template, instance, original_id = (id_field(row, key) for key in ("id", "instance", "original_id"))
    original_answer, original_steps = worked_solution(row, "original_answer")
    answer, steps = worked_solution(row, "answer")
    original = Problem(id=f"gsm-symbolic/original-{original_id}", source="gsm-symbolic",
                       text=text_field(row, "original_question"), answer=original_answer, steps=original_steps,
                       meta={"split": "test", "gsm8k_id": original_id})
    meta = {"split": "test", "template": template, "instance": instance, "original_id": original_id,
            "canary": row.get("canary"), "line": line}
    perturbed = Problem(id=f"gsm-symbolic/{template}-{instance}", source="gsm-symbolic",
                        text=text_field(row, "question"), answer=answer, steps=steps, meta=meta)
    return original, Perturbation(original.id, kind, perturbed, answer_changed=not grade(answer, original_answer))


def load_gsm_symbolic(path: str | Path, skip_invalid: bool = False) -> LoadResult:
    path, result, converted = Path(path), LoadResult(), []
    kind = f"symbolic_{slug(path.stem)}"
    convert_rows(path, read_jsonl(path, lenient=True), lambda row, line: instance_rows(row, line, kind), converted,
                 result.skipped, skip_invalid)
    gather_pairs(path, converted, result, "original_question")
    return result
