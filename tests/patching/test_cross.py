"""Cross-checkpoint patching and MLP weight transplant."""

from __future__ import annotations

import copy

import pytest
import torch
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.cross import CheckpointMismatch, check_same_tokenizer, self_pairs, transplant_sweep, transplanted
from tsft.patching.engines import make_engine
from tsft.patching.results import tidy

from tests.conftest import tiny


def mlp_only_tuned(model, steps: int = 3):
    """A copy of `model` after a few real MLP-only optimizer steps (only MLP weights differ)."""
    from tsft.models.params import apply_selection, parse_selection

    tuned = apply_selection(copy.deepcopy(model), parse_selection("mlp"))
    optimizer = torch.optim.AdamW([p for p in tuned.parameters() if p.requires_grad], lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        ids = torch.randint(5, 200, (4, 16), generator=generator)
        tuned(ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return tuned.eval()


def test_a_checkpoint_patched_into_itself_reproduces_its_clean_run(llama, tokenizer, dataset):
    pairs = self_pairs(dataset.test[:4], tokenizer, "answer")
    engine = make_engine("hooks", llama)
    for metric in ("prob", "kl"):
        request = PatchRequest(components=("resid_pre", "attn_out", "mlp_out"), positions="all", metric=metric)
        frame = tidy(patch_sweep(engine, pairs, request, clean_engine=make_engine("hooks", llama)))
        assert (frame["value"] - frame["clean"]).abs().max() <= 1e-5


def test_patching_a_s_final_residual_into_b_gives_a_when_the_readout_is_shared(llama, tokenizer, dataset):
    """B = A after MLP-only tuning shares A's final norm and unembedding: A's last residual makes B act as A."""
    other = mlp_only_tuned(llama)
    pairs = self_pairs(dataset.test[:4], tokenizer, "answer")
    request = PatchRequest(components=("resid_post",), layers=(1,), positions="last", metric="kl")
    frame = tidy(patch_sweep(make_engine("hooks", other), pairs, request, clean_engine=make_engine("hooks", llama)))
    assert (frame["normalized"] - 1).abs().max() <= 1e-4
    assert (frame["corrupt"] > 0).all()


def test_tokenizers_must_match(tokenizer):
    from tsft.models.tokenizer import world_tokenizer

    check_same_tokenizer(tokenizer, copy.deepcopy(tokenizer))
    with pytest.raises(CheckpointMismatch, match="different tokenizers"):
        check_same_tokenizer(tokenizer, world_tokenizer(sample=10))


def test_transplanting_every_mlp_reproduces_the_source(llama):
    tuned = mlp_only_tuned(llama)
    ids = torch.randint(5, 200, (2, 12))
    with torch.no_grad():
        source, own = llama(ids).logits, tuned(ids).logits
        assert not torch.allclose(source, own)
        with transplanted(tuned, llama, range(llama.config.num_hidden_layers)):
            assert torch.equal(tuned(ids).logits, source)
        with transplanted(tuned, llama, [0]):
            partial = tuned(ids).logits
        assert torch.equal(tuned(ids).logits, own)
    assert not torch.allclose(partial, source) and not torch.allclose(partial, own)


def full_tuned(model):
    """A copy with every weight moved (attention included)."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(0.01 * torch.randn_like(param))
    return other


def test_transplant_sweep_scores_every_window(llama, tokenizer, dataset):
    tuned = mlp_only_tuned(llama)
    rows = transplant_sweep(tuned, llama, tokenizer, [("original", dataset.test[:3])], max_new_tokens=4,
                            names=("base", "tuned"))
    assert [r["layers"] for r in rows] == ["none", "source", "0", "1", "0-1"]
    assert all(r["n"] == 3 and 0 <= r["accuracy"] <= 1 and 0 <= r["names_a_theorem"] <= 1 for r in rows)


def test_random_blocks_are_seeded_and_about_one_windows_size(llama):
    from tsft.models.params import random_blocks
    from tsft.patching.cross import block_parameters, mlp_parameters

    budget = sum(p.numel() for p in mlp_parameters(llama, [0]).values())
    attention = sum(p.numel() for p in block_parameters(llama, [(0, "attn")]).values())
    draws = [random_blocks(llama, budget, seed) for seed in range(6)]
    assert draws[0] == random_blocks(llama, budget, 0) and len({tuple(d) for d in draws}) > 1
    for blocks in draws:
        size = sum(p.numel() for p in block_parameters(llama, blocks).values())
        assert budget - min(budget, attention) < size <= budget
    assert any(block == "attn" for blocks in draws for _, block in blocks)


def test_transplanting_blocks_copies_exactly_those_and_restores(llama):
    tuned = full_tuned(llama)
    before = {k: v.clone() for k, v in tuned.state_dict().items()}
    with transplanted(tuned, llama, blocks=[(1, "attn")]):
        inside = {k: v.clone() for k, v in tuned.state_dict().items()}
    source = llama.state_dict()
    for name, value in inside.items():
        expected = source[name] if ".layers.1.self_attn." in name else before[name]
        assert torch.equal(value, expected), name
    assert all(torch.equal(v, before[k]) for k, v in tuned.state_dict().items())


def test_transplant_sweep_adds_random_location_rows(llama, tokenizer, dataset):
    tuned = mlp_only_tuned(llama)
    rows = transplant_sweep(tuned, llama, tokenizer, [("original", dataset.test[:2])], max_new_tokens=4,
                            names=("base", "tuned"), random_draws=2)
    random = [r for r in rows if r["layers"].startswith("random:")]
    assert [r["layers"] for r in random] == ["random:0", "random:1"]
    assert all(r["blocks"] for r in random) and rows[2]["blocks"] == "mlp0"


def test_transplant_refuses_other_architectures(llama, tokenizer):
    with pytest.raises(CheckpointMismatch, match="different architectures"), \
            transplanted(tiny(tokenizer, "qwen2"), llama, [0]):
            pass


def test_transplant_takes_effect_inside_one_bf16_autocast_region(llama):
    """Autocast caches each weight's bf16 cast for the whole region: weights swapped in place must invalidate it,
    or a transplant inside `compute(model, "bf16")` silently runs the old weights."""
    from tsft.models.precision import compute

    tuned = mlp_only_tuned(llama)
    ids = torch.randint(5, 200, (2, 12))
    with torch.no_grad(), compute(tuned, "bf16"):
        own = tuned(ids).logits
        source = llama(ids).logits
        with transplanted(tuned, llama, range(llama.config.num_hidden_layers)):
            moved = tuned(ids).logits
        back = tuned(ids).logits
    torch.testing.assert_close(moved, source)
    torch.testing.assert_close(back, own)
    assert not torch.allclose(moved, own)
