"""Probes on synthetic activations with a known answer: planted labels, shuffled labels, controls,
MDL, transfer, and the probe's directions."""

from __future__ import annotations

import numpy as np
import pytest
from tsft.probes.fitting import ProbeConfig, directions, fit_probe
from tsft.probes.labels import control_labels
from tsft.probes.linear import cross_validate, evaluate_label, interval, label_data

from tests.probes.conftest import planted, with_perturbed

CONFIG = ProbeConfig(folds=5, seed=0)


def metric(rows, name, kind="original"):
    (value,) = [r["value"] for r in rows if r["metric"] == name and r["kind"] == kind]
    return value


def test_a_planted_label_is_recovered_and_beats_its_controls():
    x, rows = planted(classes=4, signal=3.0)
    out = evaluate_label(x, rows, "theorem", CONFIG)
    assert metric(out, "accuracy") > 0.9
    assert metric(out, "control_accuracy") < 0.45  # names are not in the activations
    assert metric(out, "selectivity") > 0.5
    assert 0.25 <= metric(out, "majority") < 0.4  # the largest of 4 balanced labels: never under a quarter
    assert metric(out, "mdl_compression") > 1.5
    ci = next(r for r in out if r["metric"] == "accuracy")
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"] and ci["n_folds"] == 5


def test_shuffled_labels_score_chance_and_do_not_compress():
    x, rows = planted(classes=4, signal=3.0, shuffle_labels=True)
    out = evaluate_label(x, rows, "theorem", CONFIG)
    assert abs(metric(out, "accuracy") - 0.25) < 0.08
    assert metric(out, "mdl_compression") < 1.05


def test_selectivity_is_near_zero_when_the_label_is_a_control_task():
    """Activations encode the entity name; the 'label' is a random function of the name (a control task
    itself), so the real probe and the control probe are equally good: selectivity ~ 0."""
    rng = np.random.default_rng(1)
    x, rows = planted(classes=4, signal=0.0, names=12)
    codes = rows["name"].str.removeprefix("name").astype(int).to_numpy()
    x = x + 4.0 * rng.standard_normal((12, x.shape[1]))[codes].astype(np.float32)
    rows["theorem"] = control_labels(rows["name"], rows["theorem"], seed=7)
    out = evaluate_label(x, rows, "theorem", CONFIG)
    assert metric(out, "accuracy") > 0.9 and metric(out, "control_accuracy") > 0.9
    assert abs(metric(out, "selectivity")) < 0.08


def test_control_labels_are_fixed_per_type_and_follow_the_label_distribution():
    rng = np.random.default_rng(0)
    types = rng.integers(0, 400, size=4000).astype(str)
    labels = rng.choice(["a", "b", "c"], p=[0.6, 0.3, 0.1], size=4000)
    control = control_labels(types, labels, seed=3)
    by_type = {}
    for t, c in zip(types, control, strict=True):
        assert by_type.setdefault(t, c) == c
    shares = {c: np.mean(list(by_type.values()) == np.array(c)) for c in "abc"}
    assert abs(shares["a"] - 0.6) < 0.08 and abs(shares["c"] - 0.1) < 0.05
    assert (control_labels(types, labels, seed=3) == control).all()


def test_transfer_scores_only_held_out_originals_perturbed_versions():
    """An identical copy scores what the held-out originals score, fold by fold; a copy whose signal is
    rotated away scores chance."""
    x, rows = planted(classes=4, signal=3.0)
    x, rows = with_perturbed(x, rows, "copy", lambda a: a.copy())
    x, rows = with_perturbed(x, rows, "rotated", lambda a: np.roll(a, 7, axis=1))
    rotated = rows["kind"] == "rotated"
    rows.loc[rotated, "original_id"] = rows.loc[rotated, "problem_id"].str.removesuffix("-rotated")
    scores = cross_validate(label_data(x, rows, "theorem", CONFIG), CONFIG)
    assert scores[("transfer", "copy")] == pytest.approx(scores[("accuracy", "original")])
    assert np.mean(scores[("transfer", "rotated")]) < 0.5


def test_directions_reproduce_the_decision_function_in_raw_space():
    x, rows = planted(classes=3)
    probe = fit_probe(x, rows["theorem"])
    raw = x @ directions(probe).T
    decision = probe.decision_function(x)
    offset = decision - raw
    assert np.allclose(offset, offset[0], atol=1e-4)  # equal up to a constant per class


def test_interval_is_a_t_interval_over_folds():
    from scipy import stats

    values = [0.5, 0.6, 0.7, 0.65]
    mean, low, high = interval(values)
    half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert mean == pytest.approx(0.6125) and high - mean == pytest.approx(half) and mean - low == pytest.approx(half)
    assert interval([0.3]) == (0.3, 0.3, 0.3)
    assert interval([0.9, 1.0, 1.0, 0.8], bounds=(0.0, 1.0))[2] == 1.0
