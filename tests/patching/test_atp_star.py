"""AtP* (QK fix, GradDrop) against independent computations: HF's own eager attention under an exact patch,
a stop-gradient hook in the forward, and exact patching on a model with saturated attention."""

from __future__ import annotations

import copy

import pytest
import torch
from tsft.patching.activation import patch_sweep
from tsft.patching.atp_star import destination_pass, pattern, recording_attention, source_pass
from tsft.patching.attribution import attribution_sweep, compare_with_exact
from tsft.patching.conditions import PatchRequest, pair_conditions
from tsft.patching.engines import make_engine
from tsft.patching.hooks import intervene
from tsft.patching.results import tidy
from tsft.patching.scoring import sweep_scores
from tsft.patching.sites import Site

from tests.conftest import tiny


def _equal_length(pairs):
    return [p for p in pairs if len(p.clean_ids) == len(p.corrupt_ids)]


@pytest.mark.parametrize("arch", ["llama", "gemma3"])  # Gemma 3: q/k norms, sliding-window masks
def test_recording_attention_keeps_the_models_outputs_and_patterns(arch, tokenizer, swap_pairs):
    llama = tiny(tokenizer, arch)  # output_attentions leaves recording hooks on a model: not the shared one
    ids = torch.tensor([swap_pairs[0].clean_ids])
    with torch.no_grad():
        plain = llama(ids, output_attentions=True)
        with recording_attention(llama) as seen:
            recorded = llama(ids).logits
    torch.testing.assert_close(recorded, plain.logits)
    for layer, probs in enumerate(plain.attentions):
        torch.testing.assert_close(pattern(seen[layer], 0), probs[0].float(), atol=1e-6, rtol=1e-5)
    after = llama(ids).logits
    torch.testing.assert_close(after, plain.logits)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_qk_fix_pattern_is_the_one_exact_patching_gives(arch, tokenizer, swap_pairs):
    """Queries and keys swapped in at position p give the pattern HF computes with resid_pre patched at p."""
    llama = tiny(tokenizer, arch)
    pair = _equal_length(swap_pairs)[0]
    clean, corrupt = torch.tensor([pair.clean_ids]), torch.tensor([pair.corrupt_ids])
    layer = 1
    position = next(p for p, (a, b) in enumerate(zip(pair.clean_ids, pair.corrupt_ids, strict=True)) if a != b)
    site = Site(layer, "resid_pre")
    source, source_attention = source_pass(llama, clean, [site])
    with torch.no_grad(), recording_attention(llama) as dest:
        llama(corrupt)

    def patch(x):
        x = x.clone()
        x[:, position] = source[site][:, position]
        return x

    with torch.no_grad(), intervene(llama, edit={site: patch}):
        truth = llama(corrupt, output_attentions=True).attentions[layer][0].float()
    q, k = dest[layer].q[0].clone(), dest[layer].k[0].clone()
    q[:, [position]] = source_attention[layer].q[0][:, [position]]
    k[:, [position]] = source_attention[layer].k[0][:, [position]]
    torch.testing.assert_close(pattern(dest[layer], 0, q, k), truth, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(pattern(dest[layer], 0), truth, atol=1e-3)


def _stop_gradient_through(model, layer):
    """A forward hook that keeps block `layer`'s output but sends no gradient through its residual contribution."""
    def hook(module, args, kwargs, output):
        x = args[0] if args else kwargs["hidden_states"]
        first = output[0] if isinstance(output, tuple) else output
        new = x + (first - x).detach()
        return (new, *output[1:]) if isinstance(output, tuple) else new
    return model.model.layers[layer].register_forward_hook(hook, with_kwargs=True)


def test_graddrop_gradients_equal_a_stop_gradient_in_the_forward(llama, swap_pairs):
    first = _equal_length(swap_pairs)[0]
    pairs = [p for p in _equal_length(swap_pairs) if len(p.corrupt_ids) == len(first.corrupt_ids)][:2]
    request = PatchRequest(components=("resid_pre", "attn_out", "mlp_out"), positions="each")
    sites = request.sites(llama)
    engine = make_engine("hooks", llama)
    scores = sweep_scores(pairs, request, engine, engine)
    ids = torch.tensor([p.corrupt_ids for p in pairs])
    index = torch.arange(len(pairs))
    dest = destination_pass(llama, ids, sites, request, scores.right, scores.wrong, scores.clean_logits[index])
    drop = 1
    handle = _stop_gradient_through(llama, drop)
    try:
        upstream = [s for s in sites if s.order <= (drop, 0)]
        with torch.enable_grad(), intervene(llama, capture=upstream, detach=False,
                                            edit={Site(-1, "embed"): lambda x: x.detach().requires_grad_(True)}) \
                as seen:
            from tsft.patching.metrics import metric

            logits = llama(ids, logits_to_keep=1).logits[:, -1]
            total = metric(request.metric, logits, scores.right, scores.wrong, scores.clean_logits).sum()
            truth = torch.autograd.grad(total, [seen[s.name] for s in upstream])
    finally:
        handle.remove()
    assert set(dest.dropped[drop]) == set(upstream)
    for site, grad in zip(upstream, truth, strict=True):
        torch.testing.assert_close(dest.dropped[drop][site], grad, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(dest.dropped[drop][Site(0, "resid_pre")], dest.grads[Site(0, "resid_pre")])


def _sharpened(model, factor: float):
    """A copy whose attention logits are `factor` x larger (queries scaled): softmax near saturation."""
    sharp = copy.deepcopy(model)
    with torch.no_grad():
        for block in sharp.model.layers:
            block.self_attn.q_proj.weight.mul_(factor)
    return sharp


def test_qk_fix_brings_residual_estimates_closer_to_exact_patching_under_saturated_attention(tokenizer, swap_pairs):
    """Pooled over four random models (one draw can go either way: the fix removes only the first-order error of
    the first attention layer a residual patch meets)."""
    from tests.conftest import tiny

    pairs = _equal_length(swap_pairs)[:12]
    request = PatchRequest(components=("resid_pre",), positions="each")
    keys = ["pair_id", "layer", "component", "position"]
    errors = []
    for seed in range(4):
        sharp = _sharpened(tiny(tokenizer, "llama", seed), 30.0)
        exact = tidy(patch_sweep(make_engine("hooks", sharp), pairs, request))
        plain, _ = attribution_sweep(sharp, pairs, request)
        star, passes = attribution_sweep(sharp, pairs, request, star=True)
        joined = exact.merge(tidy(plain), on=keys, suffixes=("", "_atp")).merge(tidy(star), on=keys,
                                                                                suffixes=("", "_star"))
        errors.append(((joined["value_atp"] - joined["value"]).abs().mean(),
                       (joined["value_star"] - joined["value"]).abs().mean()))
    error_plain, error_star = (sum(e[i] for e in errors) for i in (0, 1))
    assert error_star < 0.9 * error_plain, errors
    assert sum(star < plain for plain, star in errors) >= 3, errors
    assert passes["qk_recomputations"] == len(star) and passes.get("qk_skipped", 0) == 0


def test_atp_star_is_plain_attribution_where_no_fix_applies(llama, swap_pairs):
    """mlp_out sites take no QK fix: AtP* values equal plain AtP, and GradDrop's magnitude is on the same scale."""
    pairs = _equal_length(swap_pairs)[:3]
    request = PatchRequest(components=("mlp_out",), positions="spans")
    plain, plain_passes = attribution_sweep(llama, pairs, request)
    star, passes = attribution_sweep(llama, pairs, request, star=True)
    torch.testing.assert_close(torch.tensor([r["value"] for r in star]), torch.tensor([r["value"] for r in plain]))
    last = max(r["layer"] for r in star)
    for row in star:
        assert row["graddrop"] >= 0
        if row["layer"] == last:    # no layer downstream of the last block: GradDrop is |AtP|
            assert row["graddrop"] == pytest.approx(abs(row["normalized"]), rel=1e-4, abs=1e-6)
    assert plain_passes["exact_forward"] == passes["exact_forward"] == len(star)
    assert passes["graddrop_backward"] == len(pairs) * llama.config.num_hidden_layers
    assert "qk_recomputations" not in passes and "graddrop_backward" not in plain_passes


def test_unequal_length_pairs_keep_the_plain_estimate_past_the_moved_span(llama, swap_pairs):
    """A corrupt prompt one token longer: positions after the insertion move, so their queries and keys would sit at
    another rotary phase; those conditions keep plain AtP and are counted as skipped."""
    import dataclasses

    pair = _equal_length(swap_pairs)[0]
    longer = (*pair.corrupt_ids[:5], pair.corrupt_ids[4], *pair.corrupt_ids[5:])
    moved = dataclasses.replace(pair, corrupt_ids=longer)
    request = PatchRequest(components=("resid_pre",), positions="each")
    rows, passes = attribution_sweep(llama, [moved], request, star=True)
    plain, _ = attribution_sweep(llama, [moved], request)
    conditions = pair_conditions(0, moved, request.sites(llama), request)
    assert passes["qk_recomputations"] + passes["qk_skipped"] == len(conditions) == len(rows)
    assert passes["qk_skipped"] > 0 and passes["qk_recomputations"] > 0
    shifted = {(c.site.layer, c.label) for c in conditions if c.positions[0] > 5}
    for star_row, plain_row in zip(rows, plain, strict=True):
        if (star_row["layer"], star_row["position"]) in shifted:
            assert star_row["value"] == plain_row["value"]


def test_graddrop_magnitude_rescues_a_site_the_signed_estimate_misses():
    import pandas as pd

    keys = {"pair_id": "p", "component": "mlp_out", "position": "last"}
    exact = pd.DataFrame([{**keys, "layer": layer, "normalized": value} for layer, value in enumerate([0.9, 0.5, 0.1])])
    estimate = pd.DataFrame([{**keys, "layer": layer, "normalized": value, "graddrop": drop}
                             for layer, value, drop in zip(range(3), [0.8, 0.0, 0.4], [0.8, 0.6, 0.4], strict=True)])
    assert compare_with_exact(exact, estimate.drop(columns="graddrop"), top=2)["false_negatives"] == 1
    assert compare_with_exact(exact, estimate, top=2)["false_negatives"] == 0


def test_atp_star_leaves_the_model_as_it_was(llama, swap_pairs):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    before = {k: v.clone() for k, v in llama.state_dict().items()}
    attribution_sweep(llama, swap_pairs[:2], PatchRequest(components=("resid_pre",), positions="last"), star=True)
    assert all(p.grad is None for p in llama.parameters())
    assert all(torch.equal(before[k], v) for k, v in llama.state_dict().items())
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in llama.modules()) == 0
    assert "eager" not in ALL_ATTENTION_FUNCTIONS._local_mapping


def test_atp_star_refuses_a_model_without_eager_attention(tokenizer):
    model = tiny(tokenizer)
    model.set_attn_implementation("sdpa")
    with pytest.raises(ValueError, match="eager attention"), recording_attention(model):
        pass
