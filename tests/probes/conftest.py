"""Synthetic activation datasets with known structure, for probe tests that load no model.

`planted(...)` returns (activations, rows): every row has a theorem label, a template, a number set
and an entity name like a real metadata frame, and the label is written linearly into the
activations (class mean vectors of length `signal` plus unit Gaussian noise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.probes.labels import FIELDS


def planted(n: int = 400, width: int = 32, classes: int = 4, signal: float = 3.0, templates: int = 20,
            names: int = 12, seed: int = 0, shuffle_labels: bool = False):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, size=n)
    means = rng.standard_normal((classes, width))
    means *= signal / np.linalg.norm(means, axis=1, keepdims=True)
    x = (rng.standard_normal((n, width)) + means[label]).astype(np.float32)
    if shuffle_labels:
        label = rng.permutation(label)
    rows = pd.DataFrame({field: [None] * n for field in FIELDS})
    rows["problem_id"] = [f"p{i}" for i in range(n)]
    rows["original_id"] = rows["problem_id"]
    rows["kind"] = "original"
    rows["theorem"] = [f"t{k}" for k in label]
    rows["answer"] = [str(v) for v in rng.integers(0, 100, size=n)]
    rows["template"] = [f"tpl{v}" for v in rng.integers(0, templates, size=n)]
    rows["numbers"] = [f"set{v}" for v in rng.integers(0, n // 3, size=n)]
    rows["name"] = [f"name{v}" for v in rng.integers(0, names, size=n)]
    return x, rows


def with_perturbed(x: np.ndarray, rows: pd.DataFrame, kind: str, transform) -> tuple[np.ndarray, pd.DataFrame]:
    """Append a perturbed copy of every row: activations `transform(x)`, same labels, kind `kind`."""
    copy = rows.copy()
    copy["problem_id"] = copy["problem_id"] + f"-{kind}"
    copy["kind"] = kind
    return np.concatenate([x, transform(x)]), pd.concat([rows, copy], ignore_index=True)
