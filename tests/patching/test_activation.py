"""Exact patching: direction and normalization, batching invariance against a hand-hooked loop,
spans and alignment, metrics."""

from __future__ import annotations

import math

import pytest
import torch
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import make_engine
from tsft.patching.metrics import metric, normalized
from tsft.patching.pairs import SPANS, position_map, prepare_pairs
from tsft.patching.results import layer_component_table, save_results, summarize, tidy
from tsft.tasks.pairs import theorem_swap_pairs


@pytest.fixture(scope="module")
def engine(llama):
    return make_engine("hooks", llama)


def test_whole_residual_patch_is_the_other_run(engine, swap_pairs):
    """resid_pre of layer 0 at every position IS the input: denoising it gives the clean run (1),
    noising it gives the corrupt run (0); the last layer's output at the last position likewise."""
    pairs = swap_pairs[:4]
    for component, layer, positions in (("resid_pre", 0, "all"), ("resid_post", 1, "last")):
        for direction, expected in (("denoise", 1.0), ("noise", 0.0)):
            request = PatchRequest(components=(component,), layers=(layer,), positions=positions, direction=direction)
            frame = tidy(patch_sweep(engine, pairs, request))
            assert len(frame) == len(pairs)
            assert (frame["normalized"] - expected).abs().max() <= 1e-4
            other = frame["clean"] if direction == "denoise" else frame["corrupt"]
            assert (frame["value"] - other).abs().max() <= 1e-4


def test_theorem_swaps_read_at_the_theorem_name(tokenizer, swap_pairs):
    pair = swap_pairs[0]
    assert pair.wrong is not None and pair.right != pair.wrong
    assert tokenizer.decode(pair.clean_ids).endswith("Theorem:")
    spans = pair.clean_spans
    assert sorted(p for positions in spans.values() for p in positions) == list(range(len(pair.clean_ids)))
    assert set(spans) == set(SPANS) and spans["last"] == (len(pair.clean_ids) - 1,)
    assert spans["diff"] and all(pair.clean_ids[p] != pair.corrupt_ids[p] for p in spans["diff"])
    assert [p for p in range(len(pair.clean_ids)) if pair.clean_ids[p] != pair.corrupt_ids[p]] == list(spans["diff"])


def _hand_patched_logit_diff(model, pair, layer, positions):
    """One denoising patch of mlp_out with raw torch hooks (no tsft code): clean -> corrupt."""
    module = model.model.layers[layer].mlp
    store = {}
    handle = module.register_forward_hook(lambda m, a, out: store.__setitem__("clean", out))
    with torch.no_grad():
        model(torch.tensor([pair.clean_ids]))
    handle.remove()

    def patch(m, a, out):
        out = out.clone()
        out[:, positions] = store["clean"][:, positions]
        return out

    handle = module.register_forward_hook(patch)
    with torch.no_grad():
        logits = model(torch.tensor([pair.corrupt_ids])).logits[0, -1]
    handle.remove()
    return float(logits[pair.right] - logits[pair.wrong])


def test_batched_sweep_matches_a_hand_hooked_loop_at_any_micro_batch(engine, llama, swap_pairs):
    pairs = swap_pairs[:3]
    request = PatchRequest(components=("mlp_out",), positions="each")
    big = tidy(patch_sweep(engine, pairs, request))
    small = tidy(patch_sweep(engine, pairs, PatchRequest(components=("mlp_out",), positions="each", memory_mb=1)))
    assert (big["value"] - small["value"]).abs().max() <= 1e-5
    lookup = {p.pair_id: p for p in pairs}
    for row in big.sample(12, random_state=0).itertuples():
        expected = _hand_patched_logit_diff(llama, lookup[row.pair_id], row.layer, [int(row.position)])
        assert abs(row.value - expected) <= 1e-4


def test_unequal_lengths_are_rejected_unless_aligned(tokenizer, dataset):
    from tsft.tasks.pairs import MinimalPair
    from tsft.tasks.world.perturb import perturb

    long_pairs = []
    for problem in dataset.test:
        for kind in ("entity_rename", "distractor"):
            try:
                long_pairs.append(MinimalPair(kind, problem, perturb(problem, kind, 0).problem))
            except Exception:
                continue
    _accepted, rejected = prepare_pairs(long_pairs, tokenizer, "answer")
    assert rejected and all("token lengths differ" in reason for _, reason in rejected)
    aligned, none_rejected = prepare_pairs([p for p, _ in rejected], tokenizer, "answer", allow_alignment=True)
    assert aligned and not [r for r in none_rejected if "lengths" in r[1]]
    pair = aligned[0]
    dest, source, _, mapping = pair.sides("denoise")
    assert len(dest) != len(source)
    for p, q in enumerate(mapping):
        if q >= 0:
            assert dest[p] == source[q]
    assert -1 in mapping and mapping[-1] == len(source) - 1
    assert position_map([1, 2, 3], [4, 5, 6]) == [0, 1, 2]


def test_aligned_pairs_patch_only_positions_with_a_counterpart(engine, tokenizer, dataset):
    from tsft.tasks.pairs import surface_pairs

    pairs, _ = prepare_pairs(surface_pairs(dataset.test[:6], kinds=("distractor",)), tokenizer, "answer",
                             allow_alignment=True)
    unequal = [p for p in pairs if len(p.clean_ids) != len(p.corrupt_ids)]
    assert unequal
    frame = tidy(patch_sweep(engine, unequal[:2], PatchRequest(components=("mlp_out",), positions="spans",
                                                              metric="kl")))
    assert "diff" not in set(frame["position"]) and {"last", "frame"} <= set(frame["position"])


def test_metrics_and_normalization():
    logits = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 2.0]])
    right, wrong = torch.tensor([1, 2]), torch.tensor([0, 0])
    assert metric("logit_diff", logits, right, wrong, logits).tolist() == [2.0, 2.0]
    probs = metric("prob", logits, right, wrong, logits)
    torch.testing.assert_close(probs, torch.softmax(logits, -1)[[0, 1], [1, 2]])
    assert metric("kl", logits, right, wrong, logits).abs().max() < 1e-6
    with pytest.raises(ValueError, match="wrong token"):
        metric("logit_diff", logits, right, None, logits)
    with pytest.raises(ValueError, match="logit_diff, prob, kl"):
        PatchRequest(metric="loss").check()
    out = normalized(torch.tensor([1.5, 2.0]), torch.tensor([2.0, 1.0]), torch.tensor([1.0, 1.0]))
    assert out[0] == 0.5 and math.isnan(out[1])


def test_results_are_tidy_and_saved_with_the_request(engine, swap_pairs, tmp_path):
    request = PatchRequest(components=("attn_out", "mlp_out"), positions="spans")
    frame = tidy(patch_sweep(engine, swap_pairs[:3], request), model="m", engine="hooks", method="exact",
                 direction=request.direction, metric=request.metric)
    summary = summarize(frame)
    assert summary["n_pairs"].max() == 3
    table = layer_component_table(summary, "last")
    assert list(table.columns) == ["attn_out", "mlp_out"] and list(table.index) == [0, 1]
    out = save_results(tmp_path / "run", frame, {"request": request.to_dict()})
    assert {p.name for p in out.iterdir()} == {"pairs.parquet", "summary.parquet", "request.json"}
    with pytest.raises(FileExistsError):
        save_results(tmp_path / "run", frame, {})


def test_theorem_swap_pairs_exist_for_the_world(dataset, tokenizer):
    pairs = theorem_swap_pairs(dataset.test)
    accepted, _rejected = prepare_pairs(pairs, tokenizer, "answer")
    assert len(accepted) >= len(pairs) // 2
