"""tasks/: the problems every other room trains on, perturbs, patches and probes.

* `tasks.schema`     - Problem, TheoremApplication (Cond / Map / Exec), Perturbation
* `tasks.world`      - the synthetic theorem world (catalogue, generator, perturbations, cue knob)
* `tasks.pairs`      - minimal pairs for patching, with the token-length check
* `tasks.loaders`    - MATH, GSM8K, TheoremQA, CHAMP, pair files, generic JSONL
* `tasks.perturbing` - NotApplicable and the loop that applies kinds and counts skips
* `tasks.real_perturb` - answer-invariant perturbations that are safe on real text
* `tasks.grading`    - answer extraction and `grade(prediction, reference)` on math-verify
* `tasks.build` / `tasks.dataset` - write and read a data folder
"""

__all__ = ["extract_answer", "grade"]


def __getattr__(name: str):
    # `tasks.grade(...)` without importing math-verify (and sympy) for every user of tasks/.
    if name in __all__:
        from tasks import grading

        return getattr(grading, name)
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
