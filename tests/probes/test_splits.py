"""Grouped, purged folds: no key value on both sides, every row tested once, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tsft.probes.splits import SplitError, grouped_folds


@given(n=st.integers(30, 200), templates=st.integers(5, 25), numbers=st.integers(3, 60), classes=st.integers(2, 6),
       folds=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_no_template_or_number_set_straddles_a_split(n, templates, numbers, classes, folds, seed):
    rng = np.random.default_rng(seed)
    template = rng.integers(0, templates, size=n)
    if len(np.unique(template)) < folds:
        return
    labels = rng.integers(0, classes, size=n)
    labels[:2] = [0, 1]
    groups = {"template": template.tolist(), "numbers": rng.integers(0, numbers, size=n).tolist()}
    tested = []
    for train, test in grouped_folds(labels, groups, folds, seed):
        assert not set(train) & set(test)
        for values in groups.values():
            side_a = {values[i] for i in train}
            side_b = {values[i] for i in test}
            assert not side_a & side_b
        tested += test.tolist()
    assert sorted(tested) == list(range(n))  # every row is held out exactly once


def test_unknown_group_values_are_each_their_own_group():
    labels = [0, 1] * 10
    groups = {"template": [None] * 20, "numbers": [None] * 20}
    folds = grouped_folds(labels, groups, 4, 0)
    assert sum(len(test) for _, test in folds) == 20
    assert all(len(train) + len(test) == 20 for train, test in folds)  # nothing to purge


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(SplitError, match="one class only"):
        grouped_folds(["a"] * 10, {"template": list(range(10))}, 5)
    with pytest.raises(SplitError, match="3 examples for 5 folds"):
        grouped_folds(["a", "b", "a"], {"template": [0, 1, 2]}, 5)
    with pytest.raises(SplitError, match="2 groups of 'template' for 5 folds"):
        grouped_folds(["a", "b"] * 5, {"template": [0, 1] * 5}, 5)
