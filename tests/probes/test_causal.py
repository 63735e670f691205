"""Direction removal: the algebra, INLP against random subspaces, and the edit inside a forward pass."""

from __future__ import annotations

import numpy as np
import torch

from patching.hooks import intervene
from probes.causal import inlp_basis, orthonormal, probe_basis, random_basis, removal_edit, remove
from probes.fitting import ProbeConfig
from probes.linear import cross_validate, label_data
from tests.conftest import tiny
from tests.probes.conftest import planted

CONFIG = ProbeConfig(folds=5, mdl=False)


def probe_accuracy(x, rows):
    return float(np.mean(cross_validate(label_data(x, rows, "theorem", CONFIG), CONFIG)[("accuracy", "original")]))


def test_removal_leaves_nothing_along_the_basis_and_keeps_the_rest():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 16))
    basis = orthonormal(rng.standard_normal((3, 16)))
    mean = x.mean(0)
    removed = remove(x, basis, mean)
    assert np.allclose((removed - mean) @ basis.T, 0, atol=1e-10)
    complement = np.linalg.svd(np.eye(16) - basis.T @ basis)[0][:, :13]
    assert np.allclose(removed @ complement, x @ complement)
    assert orthonormal(np.concatenate([basis, basis[:1] * 2])).shape == (3, 16)  # dependent rows dropped


def test_inlp_removal_drops_probe_accuracy_to_chance_and_random_removal_does_not():
    x, rows = planted(n=500, width=24, classes=4, signal=4.0)
    chance = 0.25
    assert probe_accuracy(x, rows) > 0.9
    y = rows["theorem"].to_numpy()
    basis = inlp_basis(x, y, iterations=3, config=CONFIG)
    assert probe_accuracy(remove(x, basis, x.mean(0)), rows) < chance + 0.08
    random = random_basis(x.shape[1], len(basis), seed=1)
    assert probe_accuracy(remove(x, random, x.mean(0)), rows) > 0.6
    one = probe_basis(x, y, CONFIG)
    assert len(one) <= 4 and len(basis) > len(one)


def test_the_edit_removes_the_subspace_inside_the_forward_pass(tokenizer):
    model = tiny(tokenizer)
    ids = torch.tensor([[5, 9, 13, 21, 8]])
    width = model.config.hidden_size
    basis = random_basis(width, 4, seed=0)
    mean = np.random.default_rng(1).standard_normal(width)
    with torch.no_grad(), intervene(model, capture=["blocks.0.resid_post"]) as before:
        plain = model(ids).logits
    with torch.no_grad(), intervene(model, capture=["blocks.0.resid_post"],
                                    edit={"blocks.0.resid_post": removal_edit(basis, mean)}) as after:
        edited = model(ids).logits
    want = remove(before["blocks.0.resid_post"][0].double().numpy(), basis, mean)
    np.testing.assert_allclose(after["blocks.0.resid_post"][0].double().numpy(), want, atol=1e-5)
    assert not torch.allclose(plain, edited)
    with torch.no_grad(), intervene(model, edit={"blocks.0.resid_post": removal_edit(basis[:0], mean)}):
        assert torch.allclose(model(ids).logits, plain, atol=1e-6)  # rank 0 = no change
