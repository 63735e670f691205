"""Concept erasure against what it promises: LEACE leaves no linearly readable label, minimally; random
subspaces of the same rank leave it readable; the affine form matches the package's own eraser."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tsft.probes.erasure import (
    Eraser,
    fit_eraser,
    leace_eraser,
    mean_squared_change,
    oracle_erase,
    random_eraser,
    scrub_sequentially,
    subspace_eraser,
)
from tsft.probes.fitting import ProbeConfig, fit_probe

pytest.importorskip("concept_erasure")


def _planted(n: int = 600, width: int = 24, classes: int = 4, seed: int = 0):
    """Gaussian activations whose class means differ along a few planted directions, plus correlated noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    mixing = rng.standard_normal((width, width)) / np.sqrt(width)
    means = rng.standard_normal((classes, width)) * 2.0
    x = rng.standard_normal((n, width)) @ mixing.T + means[y]
    return x, np.array([f"c{c}" for c in y])


def _fresh_probe_accuracy(x, y) -> tuple[float, float]:
    """(held-out accuracy, majority rate) of a fresh probe (tsft's own) over 5 seeded folds."""
    folds = np.random.default_rng(0).permutation(len(y)) % 5
    accuracy, majority = [], []
    for fold in range(5):
        train, test = folds != fold, folds == fold
        probe = fit_probe(x[train], y[train], ProbeConfig())
        accuracy.append(np.mean(probe.predict(x[test]) == y[test]))
        values, counts = np.unique(y[train], return_counts=True)
        majority.append(np.mean(y[test] == values[counts.argmax()]))
    return float(np.mean(accuracy)), float(np.mean(majority))


def test_after_leace_no_fresh_probe_beats_the_majority_rate_while_random_erasure_leaves_it_high():
    x, y = _planted()
    before, majority = _fresh_probe_accuracy(x, y)
    assert before > 0.9
    eraser = leace_eraser(x, y)
    after, _ = _fresh_probe_accuracy(eraser.apply(x), y)
    assert after <= majority + 0.05, (after, majority)
    control, _ = _fresh_probe_accuracy(random_eraser(x.mean(axis=0), eraser.rank, seed=1).apply(x), y)
    assert control > 0.85 and eraser.rank == 3  # k classes leave k - 1 directions to erase


def test_leace_is_the_smallest_edit_that_removes_the_label():
    x, y = _planted(seed=1)
    leace = leace_eraser(x, y)
    inlp = fit_eraser("inlp", x, y, iterations=6)
    assert _fresh_probe_accuracy(inlp.apply(x), y)[0] <= _fresh_probe_accuracy(x, y)[1] + 0.1  # equal removal
    assert mean_squared_change(x, leace.apply(x)) < mean_squared_change(x, inlp.apply(x))
    assert mean_squared_change(x, oracle_erase(x, y)) <= mean_squared_change(x, leace.apply(x)) + 1e-9


def test_leace_equalises_class_means_exactly_in_sample():
    x, y = _planted(seed=2)
    erased = leace_eraser(x, y).apply(x)
    means = np.stack([erased[y == c].mean(axis=0) for c in np.unique(y)])
    assert np.abs(means - erased.mean(axis=0)).max() < 1e-8


def test_the_affine_form_and_the_torch_edit_match_the_package_eraser():
    from concept_erasure import LeaceEraser

    x, y = _planted(seed=3)
    ours = leace_eraser(x, y)
    z = torch.as_tensor(np.eye(4)[np.unique(y, return_inverse=True)[1]], dtype=torch.float64)
    theirs = LeaceEraser.fit(torch.as_tensor(x, dtype=torch.float64), z)
    expected = theirs(torch.as_tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(ours.apply(x), expected, atol=1e-10)
    edited = ours.edit()(torch.as_tensor(x[None], dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(edited, expected, atol=1e-10)


def test_orthogonal_removal_keeps_the_mean_and_flattens_the_subspace():
    x, _ = _planted(seed=4)
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((x.shape[1], 2)))[0].T
    erased = subspace_eraser(basis, x.mean(axis=0)).apply(x)
    np.testing.assert_allclose(erased @ basis.T, np.tile(x.mean(axis=0) @ basis.T, (len(x), 1)), atol=1e-10)
    assert Eraser(np.zeros((5, 0)), np.zeros((0, 5)), np.zeros(5)).rank == 0


def test_scrubbing_fits_each_layer_on_what_the_erased_earlier_layers_produce():
    x, y = _planted(seed=5)
    seen = []

    def capture(erasers, layer):  # layer 1 = layer 0's output through a fixed linear map
        seen.append(sorted(erasers))
        first = x if 0 not in erasers else erasers[0].apply(x)
        return x if layer == 0 else first @ np.eye(x.shape[1])[::-1]

    erasers = scrub_sequentially(capture, [1, 0], y)
    assert seen == [[], [0]] and set(erasers) == {0, 1}
    # with layer 0 erased, layer 1 carries nothing linearly readable already: its eraser has little to do
    layer1 = capture({0: erasers[0]}, 1)
    assert mean_squared_change(layer1, erasers[1].apply(layer1)) < 1e-6
