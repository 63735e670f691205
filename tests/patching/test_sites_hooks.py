"""Sites against a hand-written Llama/Qwen2 and Gemma 3 layer, and the hook primitive's clean-up guarantee."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tsft.patching.hooks import intervene
from tsft.patching.sites import COMPONENTS, Site, SiteError, parse_site, sites


def rms_norm(x, norm):
    if hasattr(norm, "variance_epsilon"):  # Llama, Qwen2
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon) * norm.weight
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * (1 + norm.weight)  # Gemma: 1 + weight


def hand_layer(block, resid_pre, attn_out):
    """(mlp_hidden, mlp_out) of one layer by hand: Llama's MLP on the post-attention norm; Gemma 3's
    (GELU-tanh gate) between its pre- and post-feedforward norms."""
    mlp = block.mlp
    if hasattr(block, "pre_feedforward_layernorm"):
        x = rms_norm(resid_pre + attn_out, block.pre_feedforward_layernorm)
        hidden = F.gelu(x @ mlp.gate_proj.weight.T, approximate="tanh") * (x @ mlp.up_proj.weight.T)
        return hidden, rms_norm(hidden @ mlp.down_proj.weight.T, block.post_feedforward_layernorm)
    x = rms_norm(resid_pre + attn_out, block.post_attention_layernorm)
    hidden = F.silu(x @ mlp.gate_proj.weight.T) * (x @ mlp.up_proj.weight.T)
    return hidden, hidden @ mlp.down_proj.weight.T


def test_site_names_round_trip_and_errors(llama):
    assert parse_site("blocks.1.mlp_out") == Site(1, "mlp_out")
    assert parse_site("embed").name == "embed"
    assert [s.name for s in sites(llama, ["mlp_out", "resid_pre"], [1])] == ["blocks.1.resid_pre", "blocks.1.mlp_out"]
    with pytest.raises(SiteError, match="component one of"):
        parse_site("blocks.0.mlp_output")
    with pytest.raises(SiteError, match="layers 0-1"):
        sites(llama, ["mlp_out"], [2])


def test_unknown_family_lists_the_known_ones():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=20))
    with pytest.raises(ValueError, match="known: llama, qwen2"), intervene(model, capture=["blocks.0.mlp_out"]):
        pass


def test_sites_match_a_hand_written_forward(arch_model):
    """resid_pre -> attn_out -> mlp_hidden -> mlp_out -> resid_post, recomputed by hand per layer."""
    model = arch_model
    ids = torch.randint(5, 200, (2, 11))
    names = [s.name for s in sites(model, (*COMPONENTS, "embed"))]
    with intervene(model, capture=names) as seen, torch.no_grad():
        logits = model(ids).logits
    scale = model.config.hidden_size ** 0.5 if model.config.model_type == "gemma3_text" else 1.0  # Gemma scales
    torch.testing.assert_close(seen["embed"], model.get_input_embeddings().weight[ids] * scale)
    for layer, block in enumerate(model.model.layers):
        resid_pre = seen[f"blocks.{layer}.resid_pre"]
        attn_out, mlp_out = seen[f"blocks.{layer}.attn_out"], seen[f"blocks.{layer}.mlp_out"]
        hidden, out = hand_layer(block, resid_pre, attn_out)
        torch.testing.assert_close(seen[f"blocks.{layer}.mlp_hidden"], hidden, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mlp_out, out, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(seen[f"blocks.{layer}.resid_post"], resid_pre + attn_out + mlp_out, atol=1e-5,
                                   rtol=1e-5)
        if layer:
            assert torch.equal(resid_pre, seen[f"blocks.{layer - 1}.resid_post"])
    final = rms_norm(seen[f"blocks.{len(model.model.layers) - 1}.resid_post"], model.model.norm)
    torch.testing.assert_close(logits, final @ model.lm_head.weight.T, atol=1e-4, rtol=1e-4)


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_are_removed_even_when_the_block_fails(llama):
    ids = torch.randint(5, 200, (1, 9))
    with torch.no_grad():
        before = llama(ids).logits
    with pytest.raises(RuntimeError, match="boom"), \
            intervene(llama, capture=["blocks.0.resid_pre"], edit={"blocks.1.mlp_out": torch.zeros_like}):
        assert _hook_count(llama) == 2
        raise RuntimeError("boom")
    assert _hook_count(llama) == 0
    with torch.no_grad():
        assert torch.equal(llama(ids).logits, before)


def test_edits_act_where_the_site_is_computed(llama):
    ids = torch.randint(5, 200, (1, 9))
    with torch.no_grad():
        before = llama(ids).logits
        with intervene(llama, edit={"blocks.1.resid_pre": lambda x: x}):
            same = llama(ids).logits
        with intervene(llama, edit={"blocks.1.mlp_out": torch.zeros_like}, capture=["blocks.1.mlp_out",
                                                                                     "blocks.1.resid_post"]) as seen:
            zeroed = llama(ids).logits
    assert torch.equal(same, before)
    assert not torch.allclose(zeroed, before)
    assert torch.count_nonzero(seen["blocks.1.mlp_out"]) == 0
    with intervene(llama, capture=["blocks.1.resid_pre", "blocks.1.attn_out"]) as clean, torch.no_grad():
        llama(ids)
    torch.testing.assert_close(seen["blocks.1.resid_post"], clean["blocks.1.resid_pre"] + clean["blocks.1.attn_out"])
