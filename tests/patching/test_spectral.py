"""The SVD view of weight updates against closed forms: pure rescaling, pure new directions, known ranks,
identical and orthogonal subspaces, and restoring every direction giving back the checkpoint."""

from __future__ import annotations

import copy

import pytest
import torch
from tsft.patching.spectral import (
    effective_rank,
    matrices,
    overlap_rows,
    restore_top_k,
    scale_share,
    spectral_rows,
    subspace_overlap,
    top_k_update,
)


def _base(rows: int = 12, cols: int = 10, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=generator, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=generator, dtype=torch.float64))
    s = torch.linspace(5, 1, min(rows, cols), dtype=torch.float64)
    return u[:, :len(s)] @ torch.diag(s) @ v[:, :len(s)].T, u, v


def test_rescaling_the_base_s_singular_values_is_all_scale_and_new_directions_none():
    w0, u, v = _base()
    scaled = u[:, :10] @ torch.diag(torch.linspace(0.5, 0.1, 10, dtype=torch.float64)) @ v.T
    assert scale_share(w0, scaled) == pytest.approx(1.0, abs=1e-10)
    rotated = u[:, :1] @ v[:, 1:2].T  # moves singular direction 1's input onto output direction 0: off-diagonal
    assert scale_share(w0, rotated) == pytest.approx(0.0, abs=1e-10)
    assert scale_share(w0, scaled + rotated) == pytest.approx(float((scaled ** 2).sum() / ((scaled + rotated) ** 2)
                                                                    .sum()), abs=1e-10)


def test_effective_rank_counts_equal_directions():
    assert effective_rank(torch.tensor([2.0, 2.0, 2.0, 0.0])) == pytest.approx(3.0)
    assert effective_rank(torch.tensor([1.0])) == pytest.approx(1.0)
    assert effective_rank(torch.zeros(3)) == 0.0
    assert 1.0 < effective_rank(torch.tensor([3.0, 1.0])) < 2.0


def test_subspace_overlap_is_one_for_the_same_update_and_zero_for_orthogonal_ones():
    _, u, v = _base()
    a = u[:, :3] @ v[:, :3].T
    b = u[:, 3:6] @ v[:, :3].T
    assert subspace_overlap(a, 2 * a, k=3) == pytest.approx(1.0, abs=1e-10)
    assert subspace_overlap(a, b, k=3) == pytest.approx(0.0, abs=1e-10)


def test_top_k_is_the_best_rank_k_part():
    _, u, v = _base()
    delta = u[:, :4] @ torch.diag(torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64)) @ v[:, :4].T
    assert torch.linalg.matrix_rank(top_k_update(delta, 2)) == 2
    torch.testing.assert_close(top_k_update(delta, 4), delta)
    assert float((delta - top_k_update(delta, 2)).norm()) == pytest.approx((2 ** 2 + 1) ** 0.5)


def test_on_a_model_rows_cover_every_layer_matrix_and_full_restoration_gives_the_checkpoint(llama):
    tuned = copy.deepcopy(llama)
    with torch.no_grad():
        for name, param in tuned.named_parameters():
            if name in matrices(tuned):
                param.add_(0.01 * torch.randn(param.shape, generator=torch.Generator().manual_seed(1)))
    rows = spectral_rows(llama, tuned, k=4)
    n_layers = llama.config.num_hidden_layers
    assert len(rows) == len(matrices(llama)) == 7 * n_layers  # q, k, v, o, gate, up, down
    assert all(0 <= r["scale_share"] <= 1 and r["effective_rank"] > 1 for r in rows)
    same = overlap_rows(llama, tuned, tuned, k=4)
    assert all(r["overlap"] == pytest.approx(1.0, abs=1e-8) for r in same)
    restored = copy.deepcopy(llama)
    restore_top_k(restored, tuned, k=10_000)
    for (name, p), q in zip(restored.named_parameters(), tuned.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=name)


def test_an_untouched_matrix_has_no_overlap_to_report(llama):
    tuned = copy.deepcopy(llama)
    with torch.no_grad():
        for name, param in tuned.named_parameters():
            if name in matrices(tuned) and ".mlp." in name:
                param.add_(0.01)
    rows = overlap_rows(llama, tuned, tuned, k=2)
    assert all((r["block"] == "mlp") == (r["overlap"] == r["overlap"]) for r in rows)  # attention: NaN
