"""Does the model use what the probe reads? Remove the probe's directions and watch behaviour.

Directions (in raw activation space, `probes.fitting.directions`):

* `probe`: the weight vectors of one probe fit on all originals (rank <= number of classes);
* `inlp`: iterated nullspace projection (Ravfogel et al. 2020): fit a probe, add its directions
  to the removed subspace, project them out of the activations, fit again on the projected
  activations, `iterations` times, so directions the first probe did not need are removed too;
* `random`: orthonormal random directions of the same rank (seeded), the control: removing any
  subspace of that size from a small model may hurt it.

Removal is mean-preserving: x <- x - ((x - mu) Q) Q^T with Q an orthonormal basis of the
directions and mu the mean activation, so every row equals the mean along Q (no information left
there) and stays on the data's scale. During generation it is applied at every position of the
site (amnesic probing), through `patching.hooks.intervene`. The effect is measured as answer
accuracy and theorem identification (the first theorem the output names) on the originals, and
as the accuracy of a fresh probe on the removed activations (which should fall to chance).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from patching.hooks import intervene
from probes.fitting import ProbeConfig, directions, fit_probe
from training.evaluate import evaluate_problems, grade_outputs
from training.precision import autocast


def orthonormal(vectors: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """[rank, width] orthonormal basis of the rows' span (near-dependent rows dropped)."""
    if vectors.size == 0:
        return vectors.reshape(0, vectors.shape[-1])
    _, s, vt = np.linalg.svd(vectors, full_matrices=False)
    return vt[s > tolerance * s.max()]


def remove(x: np.ndarray, basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Mean-preserving removal of the subspace spanned by `basis` (orthonormal rows)."""
    return x - ((x - mean) @ basis.T) @ basis


def probe_basis(x: np.ndarray, y: Sequence, config: ProbeConfig = ProbeConfig()) -> np.ndarray:
    return orthonormal(directions(fit_probe(x, y, config)))


def inlp_basis(x: np.ndarray, y: Sequence, iterations: int = 5, config: ProbeConfig = ProbeConfig()) -> np.ndarray:
    """The union of `iterations` rounds of probe directions, each fit after removing the previous ones."""
    mean = x.mean(axis=0)
    basis = np.zeros((0, x.shape[1]))
    for _ in range(iterations):
        found = directions(fit_probe(remove(x, basis, mean), y, config))
        found = found - (found @ basis.T) @ basis  # the part not already removed
        basis = orthonormal(np.concatenate([basis, found]))
    return basis


def random_basis(width: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((width, rank)))
    return q.T


def removal_edit(basis: np.ndarray, mean: np.ndarray):
    """An `intervene` edit that removes the subspace from a site's activation at every position."""
    import torch

    def edit(activation):
        q = torch.as_tensor(basis, dtype=activation.dtype, device=activation.device)
        mu = torch.as_tensor(mean, dtype=activation.dtype, device=activation.device)
        return activation - ((activation - mu) @ q.T) @ q
    return edit


def behaviour(model, tokenizer, problems, site: str, basis: np.ndarray | None, mean: np.ndarray,
              max_new_tokens: int, precision: str = "fp32", batch_size: int = 64) -> dict[str, float]:
    """Answer accuracy and theorem identification on `problems` with the subspace removed at `site`, generating
    at `precision` (resolved, training.precision)."""
    from contextlib import nullcontext

    context = nullcontext() if basis is None else intervene(model, edit={site: removal_edit(basis, mean)})
    with context, autocast(precision, next(model.parameters()).device):
        outputs = evaluate_problems(model, tokenizer, problems, max_new_tokens, batch_size)
    graded = grade_outputs(problems, outputs, "", "", "")
    n = max(len(graded), 1)
    named = [r["theorem_named_first"] for r in graded if r["theorem_named_first"] is not None]
    return {"answer_accuracy": sum(r["correct"] for r in graded) / n,
            "theorem_identified": sum(named) / n,
            "names_a_theorem": sum(r["named_theorem"] is not None for r in graded) / n}
