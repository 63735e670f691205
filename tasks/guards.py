"""Contamination guards: which data may be trained on, and a canary that shows where test data went.

* **Eval-only folders.** A data folder built from an evaluation benchmark (MATH test, GSM8K test, GSM-Symbolic,
  TheoremQA, CHAMP, GSM-Plus / MATH-Perturb pairs, GeoQA without a train split) says so in its manifest
  (`eval_only`: the source and the benchmark), as does any folder built with `--eval-only NAME` (a JSONL of
  annotated benchmark problems, say). `check_trainable` refuses to train on such a folder unless told
  (`--set allow_eval_data=true`), naming the source: a checkpoint tuned on a test set says nothing about
  generalization to it.
* **Canary.** Every synthetic (and diagram) folder's manifest carries a canary string, `tsft canary GUID <uuid>`,
  the GUID derived from the folder's test problems. A model that emits it was trained on the manifest or a copy
  of it; analysis.contamination looks for it, and for verbatim test problems, in every generation.
"""

from __future__ import annotations

import hashlib
import uuid

EVAL_ONLY = {
    "math": "MATH test", "gsm8k": "GSM8K test", "gsm-symbolic": "GSM-Symbolic", "theoremqa": "TheoremQA",
    "champ": "CHAMP", "pairs": "GSM-Plus / MATH-Perturb pairs", "geoqa": "GeoQA test",
}
"""Sources that are evaluation benchmarks (GeoQA only when the file has no rows marked split=train)."""
CANARY_PREFIX = "tsft canary GUID"


def eval_only_header(source: str, has_train: bool, named: str | None = None) -> dict:
    """The manifest's `eval_only` entry ({} when the folder may be trained on)."""
    if named:
        return {"eval_only": {"source": source, "benchmark": named}}
    if source in EVAL_ONLY and not (source == "geoqa" and has_train):
        return {"eval_only": {"source": source, "benchmark": EVAL_ONLY[source]}}
    return {}


def canary(test_texts) -> str:
    """A canary string unique to a set of test problems (the same problems give the same string)."""
    digest = hashlib.sha256("\n".join(test_texts).encode()).hexdigest()
    return f"{CANARY_PREFIX} {uuid.uuid5(uuid.NAMESPACE_URL, 'tsft:' + digest)}"


class EvalOnlyData(ValueError):
    """Training was asked for on a data folder marked eval-only."""


def check_trainable(manifest: dict, folder, allow: bool = False,
                    advice: str = "Train on another folder, or pass --set allow_eval_data=true if that is the "
                                  "experiment") -> None:
    """Raise `EvalOnlyData` naming the source when the folder is eval-only and `allow` is not set; `advice` is the
    caller's way forward (the trainer's override, or none where the command has no such setting)."""
    marked = manifest.get("eval_only")
    if marked and not allow:
        raise EvalOnlyData(f"{folder}: built from {marked['source']} ({marked['benchmark']}), an evaluation-only "
                           "source; training on it would contaminate every evaluation on it. " + advice)
