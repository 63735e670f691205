"""Concept erasure: remove what a linear classifier could read about a label, and nothing more.

Every eraser here is one affine map of an activation x (a row of width d):

    x -> x - ((x - bias) @ right.T) @ left.T          (left: [d, k], right: [k, d])

* `leace` - LEACE (Belrose et al. 2023, the `concept-erasure` package): the least-squares edit after which
  no linear classifier can predict the label better than a constant, in the sense that every class has the
  same mean activation. It is the *minimal* such edit in mean squared change (for the data it is fit on);
* `oracle` - LEACE's oracle variant, which also sees each row's label when erasing (`OracleEraser`): a lower
  bound on the damage any erasure of the label must do; for activations only (generation does not know the
  label of a row);
* `probe`, `inlp` - the subspace a probe's weight vectors span, and iterated nullspace projection (Ravfogel et
  al. 2020): orthogonal projections that remove more than the label needs (the baselines);
* `random` - an orthonormal random subspace of the same rank (the control: removing any subspace of that size
  may hurt a model).

An orthogonal removal of the subspace with orthonormal basis Q (rows) and mean mu is the same map with
left = Q.T, right = Q, bias = mu: the mean is kept and the subspace set to it. `mean_squared_change` measures
how much an eraser moves the activations: LEACE's is the smallest at equal removal.

`scrub_sequentially` erases at every layer at once ("concept scrubbing"): layer l's eraser is fit on
activations captured with the erasers of layers < l already in place, as the erased model computes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tsft.probes.fitting import ProbeConfig, directions, fit_probe

METHODS = ("leace", "probe", "inlp")


@dataclass(frozen=True)
class Eraser:
    """x -> x - ((x - bias) @ right.T) @ left.T (see the module docstring)."""

    left: np.ndarray
    right: np.ndarray
    bias: np.ndarray

    @property
    def rank(self) -> int:
        """The dimension of what the eraser changes (numerical rank of left @ right)."""
        if self.left.size == 0:
            return 0
        return int(np.linalg.matrix_rank(self.left @ self.right, tol=1e-6 * max(1.0, np.abs(self.left).max())))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x - ((x - self.bias) @ self.right.T) @ self.left.T

    def edit(self) -> Callable:
        """The same map as a `patching.hooks.intervene` edit, on every position of a site's activation."""
        cached: dict[tuple, tuple[torch.Tensor, ...]] = {}  # converted once per dtype and device, not per forward

        def erase(activation):
            key = (activation.dtype, activation.device)
            if key not in cached:
                cached[key] = tuple(torch.as_tensor(a, dtype=key[0], device=key[1])
                                    for a in (self.left, self.right, self.bias))
            left, right, bias = cached[key]
            return activation - ((activation - bias) @ right.T) @ left.T
        return erase


def orthonormal(vectors: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """[rank, width] orthonormal basis of the rows' span (near-dependent rows dropped)."""
    if vectors.size == 0:
        return vectors.reshape(0, vectors.shape[-1])
    _, s, vt = np.linalg.svd(vectors, full_matrices=False)
    return vt[s > tolerance * s.max()]


def subspace_eraser(basis: np.ndarray, mean: np.ndarray) -> Eraser:
    """Mean-preserving orthogonal removal of the span of `basis` (orthonormal rows)."""
    return Eraser(left=basis.T.copy(), right=basis.copy(), bias=mean)


def one_hot(y: Sequence) -> np.ndarray:
    classes, index = np.unique(np.asarray(y, dtype=str), return_inverse=True)
    return np.eye(len(classes))[index]


def leace_eraser(x: np.ndarray, y: Sequence) -> Eraser:
    """LEACE fit on activations `x` [n, d] and labels `y` (float64 statistics)."""
    from concept_erasure import LeaceFitter

    fitted = LeaceFitter.fit(torch.as_tensor(x, dtype=torch.float64),
                             torch.as_tensor(one_hot(y), dtype=torch.float64)).eraser
    return Eraser(left=fitted.proj_left.numpy(), right=fitted.proj_right.numpy(), bias=fitted.bias.numpy())


def oracle_erase(x: np.ndarray, y: Sequence) -> np.ndarray:
    """LEACE's oracle variant applied to the rows it is fit on (it reads each row's label)."""
    from concept_erasure import OracleFitter

    z = torch.as_tensor(one_hot(y), dtype=torch.float64)
    fitted = OracleFitter.fit(torch.as_tensor(x, dtype=torch.float64), z).eraser
    return fitted(torch.as_tensor(x, dtype=torch.float64), z).numpy()


def probe_eraser(x: np.ndarray, y: Sequence, config: ProbeConfig = ProbeConfig()) -> Eraser:
    return subspace_eraser(orthonormal(directions(fit_probe(x, y, config))), x.mean(axis=0))


def inlp_eraser(x: np.ndarray, y: Sequence, iterations: int = 5, config: ProbeConfig = ProbeConfig()) -> Eraser:
    """The union of `iterations` rounds of probe directions, each fit after removing the previous ones."""
    mean = x.mean(axis=0)
    basis = np.zeros((0, x.shape[1]))
    for _ in range(iterations):
        found = directions(fit_probe(subspace_eraser(basis, mean).apply(x), y, config))
        found = found - (found @ basis.T) @ basis  # the part not already removed
        basis = orthonormal(np.concatenate([basis, found]))
    return subspace_eraser(basis, mean)


def random_eraser(mean: np.ndarray, rank: int, seed: int) -> Eraser:
    """Mean-preserving orthogonal removal of a seeded random subspace of `rank` dimensions (around `mean`, the
    activations' mean where it is applied)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(mean), rank)))
    return subspace_eraser(q.T, mean)


def fit_eraser(method: str, x: np.ndarray, y: Sequence, iterations: int = 3,
               config: ProbeConfig = ProbeConfig()) -> Eraser:
    if method == "leace":
        return leace_eraser(x, y)
    if method == "inlp":
        return inlp_eraser(x, y, iterations, config)
    if method == "probe":
        return probe_eraser(x, y, config)
    raise ValueError(f"unknown erasure method {method!r}; choose one of {', '.join(METHODS)}")


def mean_squared_change(x: np.ndarray, erased: np.ndarray) -> float:
    """Mean over rows of the squared distance an eraser moved them."""
    return float(((erased - x) ** 2).sum(axis=1).mean())


def scrub_sequentially(capture: Callable[[dict, int], np.ndarray], layers: Sequence[int], y: Sequence,
                       method: str = "leace") -> dict[int, Eraser]:
    """{layer: eraser} fit in layer order, each on `capture(erasers so far, layer)`: that layer's activations
    with the earlier layers' erasers applied in the forward pass."""
    erasers: dict[int, Eraser] = {}
    for layer in sorted(layers):
        erasers[layer] = fit_eraser(method, capture(dict(erasers), layer), y)
    return erasers
