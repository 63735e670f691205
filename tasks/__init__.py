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
* `summary`      - readable tables of a data folder;
* `locking`      - one writer per run folder: a lock file with the writer's pid, stale locks taken over;
* `exports`      - the lazy public names every room's `__init__` offers (`from tsft.patching import run_sweep`).
"""

from tsft.tasks.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "extract_answer": "grading",
    "grade": "grading",
    "load_dataset": "dataset",
    "Problem": "schema",
    "Perturbation": "schema",
})
