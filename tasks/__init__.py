"""tasks/: the problems every other room trains on, perturbs, patches and probes.

* `schema`       - Problem, TheoremApplication (Cond / Map / Exec), Perturbation;
* `world`        - the synthetic theorem world (catalogue, generator, perturbations, cue knob);
* `diagram`      - the diagram world: geometry problems whose givens are partly on a figure;
* `loaders`      - MATH, GSM8K, GSM-Symbolic, TheoremQA, CHAMP, GeoQA, pair files, generic JSONL;
* `perturbing`   - NotApplicable and the loop that applies kinds and counts skips;
* `real_perturb` - answer-invariant perturbations that are safe on real text;
* `pairs`        - minimal pairs for patching, with the token-length check;
* `grading`      - answer extraction and `grade(prediction, reference)` on math-verify;
* `guards`       - eval-only folders refused for training, the canary of tsft's own worlds;
* `io`           - JSONL with located errors, atomic file and folder writes, hashes;
* `build`        - write a data folder (`tsft data build`); `dataset` - read and verify one;
* `summary`      - readable tables of a data folder.
"""

__all__ = ["extract_answer", "grade"]


def __getattr__(name: str):
    # `tasks.grade(...)` without importing math-verify (and sympy) for every user of tasks/.
    if name in __all__:
        from tsft.tasks import grading

        return getattr(grading, name)
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
