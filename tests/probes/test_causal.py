"""Subspace removal (the baselines LEACE is compared with): the algebra, INLP against random subspaces, and the
edit inside a forward pass."""

from __future__ import annotations

import numpy as np
import torch
from tsft.patching.hooks import intervene
from tsft.probes.erasure import inlp_eraser, orthonormal, probe_eraser, random_eraser, subspace_eraser
from tsft.probes.fitting import ProbeConfig
from tsft.probes.linear import cross_validate, label_data

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
    removed = subspace_eraser(basis, mean).apply(x)
    assert np.allclose((removed - mean) @ basis.T, 0, atol=1e-10)
    complement = np.linalg.svd(np.eye(16) - basis.T @ basis)[0][:, :13]
    assert np.allclose(removed @ complement, x @ complement)
    assert orthonormal(np.concatenate([basis, basis[:1] * 2])).shape == (3, 16)  # dependent rows dropped


def test_inlp_removal_drops_probe_accuracy_to_chance_and_random_removal_does_not():
    x, rows = planted(n=500, width=24, classes=4, signal=4.0)
    chance = 0.25
    assert probe_accuracy(x, rows) > 0.9
    y = rows["theorem"].to_numpy()
    inlp = inlp_eraser(x, y, iterations=3, config=CONFIG)
    assert probe_accuracy(inlp.apply(x), rows) < chance + 0.08
    random = random_eraser(x.mean(0), inlp.rank, seed=1)
    assert probe_accuracy(random.apply(x), rows) > 0.6
    one = probe_eraser(x, y, CONFIG)
    assert one.rank <= 4 and inlp.rank > one.rank


def test_the_edit_removes_the_subspace_inside_the_forward_pass(tokenizer):
    model = tiny(tokenizer)
    ids = torch.tensor([[5, 9, 13, 21, 8]])
    width = model.config.hidden_size
    basis = random_eraser(np.zeros(width), 4, seed=0).right
    mean = np.random.default_rng(1).standard_normal(width)
    with torch.no_grad(), intervene(model, capture=["blocks.0.resid_post"]) as before:
        plain = model(ids).logits
    with torch.no_grad(), intervene(model, capture=["blocks.0.resid_post"],
                                    edit={"blocks.0.resid_post": subspace_eraser(basis, mean).edit()}) as after:
        edited = model(ids).logits
    want = subspace_eraser(basis, mean).apply(before["blocks.0.resid_post"][0].double().numpy())
    np.testing.assert_allclose(after["blocks.0.resid_post"][0].double().numpy(), want, atol=1e-5)
    assert not torch.allclose(plain, edited)
    with torch.no_grad(), intervene(model, edit={"blocks.0.resid_post": subspace_eraser(basis[:0], mean).edit()}):
        assert torch.allclose(model(ids).logits, plain, atol=1e-6)  # rank 0 = no change
