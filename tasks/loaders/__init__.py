"""Real-data loaders, one per source, all into the shared schema (tasks.schema).

`load(source, path, ...)` dispatches by name: math, gsm8k, gsm-symbolic, theoremqa, champ, geoqa, pairs,
jsonl.

* `common`       - the result type and the row loop with located errors;
* `math_dataset` - MATH, both layouts;          * `gsm8k` - GSM8K;
* `gsm_symbolic` - GSM-Symbolic's released files; * `theoremqa` - TheoremQA;
* `champ`        - CHAMP (the champ-dataset package); * `geoqa` - GeoQA-format problems with diagrams;
* `pairs_file`   - GSM-Plus / MATH-Perturb pair files; * `jsonl` - any JSONL through a field map.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tsft.tasks.loaders.champ import load_champ
from tsft.tasks.loaders.common import LoadResult
from tsft.tasks.loaders.geoqa import load_geoqa
from tsft.tasks.loaders.gsm8k import load_gsm8k
from tsft.tasks.loaders.gsm_symbolic import load_gsm_symbolic
from tsft.tasks.loaders.jsonl import load_jsonl
from tsft.tasks.loaders.math_dataset import load_math
from tsft.tasks.loaders.pairs_file import load_pairs
from tsft.tasks.loaders.theoremqa import load_theoremqa

LOADERS: dict[str, Callable[..., LoadResult]] = {
    "math": load_math,
    "gsm8k": load_gsm8k,
    "gsm-symbolic": load_gsm_symbolic,
    "theoremqa": load_theoremqa,
    "champ": load_champ,
    "geoqa": load_geoqa,
    "pairs": load_pairs,
    "jsonl": load_jsonl,
}
PATH_OPTIONAL = frozenset({"champ"})


def load(source: str, path: str | Path | None, skip_invalid: bool = False, **options) -> LoadResult:
    """Load a real dataset; `options` are the loader's own (field_map for jsonl, theorems_path...)."""
    if source not in LOADERS:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(LOADERS)}")
    if path is None and source not in PATH_OPTIONAL:
        raise ValueError(f"--path is required for --source {source}")
    options = {k: v for k, v in options.items() if v is not None}
    return LOADERS[source](path, skip_invalid=skip_invalid, **options)


__all__ = ["LOADERS", "LoadResult", "load"]
