"""Grouped, purged cross-validation: no group of problems is ever on both sides of a split.

Synthetic problems share templates (sibling theorems use one wording) and number sets; a probe
tested on a template it was trained on can score by recognizing the wording. So the folds are:

1. Held-out groups of the first key (the template by default), via scikit-learn's
   `StratifiedGroupKFold` (shuffled, seeded), so every class keeps examples on the training side
   when it can.
2. Purged: every training row sharing a value of any other key (the number set by default) with
   a test row is dropped from training.

The result never has a value of any key on both sides (`tests/probes/test_splits.py` checks this
as a property). Merging keys into connected components instead would collapse the synthetic
world's 500 test problems to ~10 components that each hold whole theorems, leaving nothing to
generalize to. A row whose key is unknown is its own group.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np


class SplitError(ValueError):
    """Too few examples, groups or classes for the requested folds."""


def _codes(values: Sequence) -> np.ndarray:
    """Integer group codes; unknown (None/NaN) values get a group of their own each."""
    out = np.empty(len(values), dtype=np.int64)
    seen: dict = {}
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[i] = -(i + 1)
        else:
            out[i] = seen.setdefault(value, len(seen))
    return out


def check_labels(labels: Sequence, what: str, folds: int) -> None:
    classes = np.unique(np.asarray(labels, dtype=str))
    if len(classes) < 2:
        raise SplitError(f"{what}: one class only ({classes[0] if len(classes) else 'no rows'!s}); a probe needs at "
                         "least two")
    if len(labels) < folds:
        raise SplitError(f"{what}: {len(labels)} examples for {folds} folds; use fewer folds or more problems")
    counts = {c: int(n) for c, n in zip(*np.unique(np.asarray(labels, dtype=str), return_counts=True), strict=True)}
    if max(counts.values()) < folds:
        smallest = min(counts, key=counts.get)
        raise SplitError(f"{what}: every class has fewer than {folds} examples (the largest {max(counts.values())}, "
                         f"the smallest, {smallest!r}, {counts[smallest]}); use --folds "
                         f"{max(2, max(counts.values()))} or more problems")


def grouped_folds(labels: Sequence, groups: Mapping[str, Sequence], folds: int = 5, seed: int = 0,
                  what: str = "probe") -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) per fold; `groups` maps key name -> one value per row (first key held out)."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels, dtype=str)
    check_labels(labels, what, folds)
    keys = list(groups)
    codes = {k: _codes(list(groups[k])) for k in keys}
    primary = codes[keys[0]] if keys else -np.arange(1, len(labels) + 1)
    if len(np.unique(primary)) < folds:
        raise SplitError(f"{what}: {len(np.unique(primary))} groups of {keys[0]!r} for {folds} folds; use fewer "
                         "folds or other --group keys")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has fewer members than n_splits"
        try:
            splits = list(splitter.split(np.zeros(len(labels)), labels, primary))
        except ValueError as err:  # what scikit-learn still refuses, said with the label's name
            raise SplitError(f"{what}: {err}; use fewer --folds or more problems") from err
    for train, test in splits:
        for key in keys[1:]:
            in_test = codes[key][test]
            train = train[~np.isin(codes[key][train], in_test[in_test >= 0])]
        out.append((train, test))
    return out
