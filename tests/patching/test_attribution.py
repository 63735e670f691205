"""Attribution patching against exact patching on the same sweep."""

from __future__ import annotations

import dataclasses

from tsft.patching.activation import patch_sweep
from tsft.patching.attribution import attribution_sweep, compare_with_exact
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import make_engine
from tsft.patching.results import tidy


def test_attribution_tracks_exact_patching(llama, swap_pairs):
    request = PatchRequest(components=("attn_out", "mlp_out"), positions="each")
    pairs = swap_pairs[:6]
    exact = tidy(patch_sweep(make_engine("hooks", llama), pairs, request))
    estimate = tidy(attribution_sweep(llama, pairs, request)[0])
    assert len(estimate) == len(exact)
    report = compare_with_exact(exact, estimate)
    assert report["n"] == len(exact)
    assert report["pearson_mlp_out"] > 0.9 and report["pearson_attn_out"] > 0.9


def test_attribution_of_a_patch_with_the_same_run_is_zero(llama, swap_pairs):
    own = [dataclasses.replace(p, corrupt_ids=p.clean_ids, corrupt_spans=p.clean_spans) for p in swap_pairs[:2]]
    frame = tidy(attribution_sweep(llama, own, PatchRequest(components=("resid_pre", "mlp_out"), positions="spans"))[0])
    assert (frame["value"] - frame["clean"]).abs().max() <= 1e-6


def test_attribution_does_not_train_or_keep_hooks(llama, swap_pairs):
    before = {k: v.clone() for k, v in llama.state_dict().items()}
    attribution_sweep(llama, swap_pairs[:2], PatchRequest(components=("mlp_out",), positions="last"))
    assert all(p.grad is None for p in llama.parameters())
    assert all(torch_equal(before[k], v) for k, v in llama.state_dict().items())
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in llama.modules()) == 0


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


def test_false_negatives_are_the_exact_top_sites_the_estimate_misses():
    import pandas as pd

    keys = {"pair_id": "p", "component": "mlp_out", "position": "last"}
    exact = pd.DataFrame([{**keys, "layer": layer, "normalized": value} for layer, value in enumerate([0.9, 0.5, 0.1])])
    estimate = pd.DataFrame([{**keys, "layer": layer, "normalized": value}
                             for layer, value in enumerate([0.8, 0.0, 0.4])])
    report = compare_with_exact(exact, estimate, top=2)
    assert report["top_k"] == 2 and report["false_negatives"] == 1 and report["missed"] == ["blocks.1.mlp_out@last"]
    assert report["rank_to_find_top_k"] == 3 and report["sites"] == 3    # layer 1 is the estimate's last
    assert compare_with_exact(exact, exact, top=2)["false_negatives"] == 0
