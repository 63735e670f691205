"""Linear probes with controls: grouped-CV accuracy, control-task selectivity, majority, transfer.

A probe is scikit-learn's `LogisticRegression` (multinomial, L2, `C`) after a `StandardScaler`,
fit on the *original* problems of the held-in folds (`probes.splits.grouped_folds`). Per fold it
reports:

* `accuracy` on the held-out originals;
* `control_accuracy`: the same probe architecture trained and tested on the control task
  (`probes.labels.control_labels`, Hewitt & Liang), and `selectivity` = accuracy - control;
* `majority`: the best constant prediction's accuracy on the held-out originals (the largest label's share
  there). Not the held-in majority label: with balanced labels and grouped folds, the label most common in the
  held-in folds is the one the held-out fold took fewest of, often none, and would score 0;
* `transfer`: the probe fit on the held-in originals, scored on every perturbed version (one row
  per kind) of the *held-out* originals, so no number set or template it trained on leaks in.

Each metric is the mean over folds with a 95% t-interval over folds (clipped to the metric's range).
`mdl_bits` / `mdl_compression` come from `probes.mdl` on all originals. The probe itself and its settings are
`probes.fitting`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tsft.probes.fitting import ProbeConfig, fit_probe
from tsft.probes.labels import control_labels, control_type, groups_for, label_column
from tsft.probes.mdl import online_codelength
from tsft.probes.splits import grouped_folds

RANGES = {"accuracy": (0.0, 1.0), "control_accuracy": (0.0, 1.0), "majority": (0.0, 1.0), "transfer": (0.0, 1.0),
          "selectivity": (-1.0, 1.0)}
"""Where each metric can lie: confidence intervals are clipped to it."""


def interval(values: Sequence[float], level: float = 0.95, bounds: tuple[float, float] = (-np.inf, np.inf)
             ) -> tuple[float, float, float]:
    """(mean, low, high): a t-interval over folds, clipped to `bounds` (low = high = mean for one fold)."""
    from scipy import stats

    data = np.asarray([v for v in values if not np.isnan(v)], dtype=float)
    if data.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(data.mean())
    if data.size < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, data.size - 1) * data.std(ddof=1) / np.sqrt(data.size))
    return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])


@dataclass
class LabelData:
    """The rows one label's probe uses: originals with a known label and finite activations."""

    x: np.ndarray
    y: np.ndarray
    control: np.ndarray
    groups: dict[str, list]
    original_ids: np.ndarray
    perturbed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    """kind -> (activations, labels, original ids) of the perturbed rows."""


def label_data(x: np.ndarray, rows, label: str, config: ProbeConfig = ProbeConfig()) -> LabelData:
    labels = label_column(rows, label)
    usable = labels.notna().to_numpy() & np.isfinite(x).all(axis=1)
    original = usable & (rows["kind"] == "original").to_numpy()
    keys = groups_for(label, config.groups)
    surface_type = control_type(rows[original], config.control)
    if surface_type in keys:
        raise ValueError(f"control type {surface_type!r} is also a group key: every held-out type would be unseen, "
                         "so the control would score chance by construction; choose another --control")
    y = labels[original].astype(str).to_numpy()
    perturbed = {}
    for kind in rows.loc[usable & ~original, "kind"].unique():
        mask = usable & (rows["kind"] == kind).to_numpy()
        perturbed[kind] = (x[mask], labels[mask].astype(str).to_numpy(), rows.loc[mask, "original_id"].to_numpy())
    return LabelData(
        x=x[original], y=y,
        control=control_labels(rows.loc[original, surface_type], y, config.seed),
        groups={k: rows.loc[original, k].tolist() for k in keys},
        original_ids=rows.loc[original, "original_id"].to_numpy(), perturbed=perturbed)


def _score(probe, x: np.ndarray, y: np.ndarray) -> float:
    return float((probe.predict(x) == y).mean()) if len(y) else float("nan")


def cross_validate(data: LabelData, config: ProbeConfig = ProbeConfig(), what: str = "probe") -> dict[tuple, list]:
    """Per-fold scores keyed by (metric, kind): accuracy, control_accuracy, selectivity, majority, transfer."""
    scores: dict[tuple, list] = {}

    def add(metric, kind, value):
        scores.setdefault((metric, kind), []).append(value)

    for train, test in grouped_folds(data.y, data.groups, config.folds, config.seed, what):
        probe = fit_probe(data.x[train], data.y[train], config)
        control = fit_probe(data.x[train], data.control[train], config)
        accuracy = _score(probe, data.x[test], data.y[test])
        control_accuracy = _score(control, data.x[test], data.control[test])
        add("accuracy", "original", accuracy)
        add("control_accuracy", "original", control_accuracy)
        add("selectivity", "original", accuracy - control_accuracy)
        add("majority", "original", float(np.unique(data.y[test], return_counts=True)[1].max() / len(test)))
        add("n_train", "original", float(len(train)))
        held_out = set(data.original_ids[test].tolist())
        for kind, (x, y, originals) in data.perturbed.items():
            mask = np.isin(originals, list(held_out))
            add("transfer", kind, _score(probe, x[mask], y[mask]))
    return scores


def evaluate_label(x: np.ndarray, rows, label: str, config: ProbeConfig = ProbeConfig(), what: str = "probe"
                   ) -> list[dict]:
    """Tidy rows (label, metric, kind, value, ci_low, ci_high, n_folds, n) for one feature and label."""
    data = label_data(x, rows, label, config)
    out = []
    for (metric, kind), values in cross_validate(data, config, what).items():
        mean, low, high = interval(values, bounds=RANGES.get(metric, (-np.inf, np.inf)))
        out.append({"label": label, "metric": metric, "kind": kind, "value": mean, "ci_low": low, "ci_high": high,
                    "n_folds": len(values), "n": len(data.y)})
    if config.mdl:
        bits, uniform = online_codelength(data.x, data.y, config)
        for metric, value in (("mdl_bits", bits), ("mdl_compression", uniform / bits)):
            out.append({"label": label, "metric": metric, "kind": "original", "value": value, "ci_low": np.nan,
                        "ci_high": np.nan, "n_folds": 0, "n": len(data.y)})
    return out
