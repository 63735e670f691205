"""Minimum description length of a label given activations: the online code (Voita & Titov 2020).

The examples are sent in blocks. The first block is sent with the uniform code (log2 K bits per
label, K classes); each later block is sent with a probe trained on every block before it, costing
-log2 p(label) bits per example. The total is the online code length; `compression` = uniform code
length / online code length (1 = the activations help nothing). Unlike accuracy it rewards a
label that is learnable *from few examples*, so it separates "readable" from "memorizable" even
where two probes reach the same accuracy.

The examples are sent in a seeded random order, with block ends at Voita & Titov's fractions of
the data (0.1% ... 100%). The order is *not* grouped: with templates sent whole, the early blocks
hold a few templates and hence a few theorems, every later theorem arrives unseen and costs
~log2(K / eps) bits, and the code came out longer than the uniform one (compression 0.55 for
theorem identity at a layer where grouped-CV accuracy is 0.66, measured on the small preset). So
MDL measures how cheaply the label is extracted when templates may repeat; the grouped-CV
accuracy and the transfer scores are the measures that hold surface out. Probabilities are mixed
with 1e-4 of the uniform distribution, so a class the probe has not seen yet costs at most
log2(K / 1e-4) bits; a prefix with one class only is coded with Laplace-smoothed frequencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from tsft.probes.fitting import fit_probe

FRACTIONS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625, 0.125, 0.25, 0.5, 1.0)
EPSILON = 1e-4


def block_ends(total: int, fractions: Sequence[float] = FRACTIONS) -> list[int]:
    """Cumulative block ends at the fractions of `total` rows (at least one row in the first block)."""
    return sorted({max(1, round(fraction * total)) for fraction in fractions})


def _block_probs(x_seen, y_seen, x_block, classes: np.ndarray, config) -> np.ndarray:
    seen_classes = np.unique(y_seen)
    if len(seen_classes) < 2:
        counts = np.array([(y_seen == c).sum() + 1.0 for c in classes])
        return np.tile(counts / counts.sum(), (len(x_block), 1))
    probe = fit_probe(x_seen, y_seen, config)
    probs = np.zeros((len(x_block), len(classes)))
    columns = np.searchsorted(classes, probe[-1].classes_)
    probs[:, columns] = probe.predict_proba(x_block)
    return probs


def online_codelength(x: np.ndarray, y: Sequence, config) -> tuple[float, float]:
    """(online code length, uniform code length) in bits for labels `y` given activations `x`."""
    y = np.asarray(y, dtype=str)
    classes = np.unique(y)
    order = np.random.default_rng(config.seed).permutation(len(y))
    x, y = x[order], y[order]
    ends = block_ends(len(y))
    uniform = len(y) * np.log2(len(classes))
    bits = ends[0] * np.log2(len(classes))
    for start, end in pairwise(ends):
        probs = _block_probs(x[:start], y[:start], x[start:end], classes, config)
        probs = (1 - EPSILON) * probs + EPSILON / len(classes)
        picked = probs[np.arange(end - start), np.searchsorted(classes, y[start:end])]
        bits += float(-np.log2(picked).sum())
    return float(bits), float(uniform)
