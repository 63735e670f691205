"""Compute precision: what `auto` resolves to, and bf16 autocast against the float32 reference.

Stated tolerances (tiny random Llama, hidden 128, world tokenizer): bf16 logits within 2% of the
float32 logits' range and the same next token on >= 95% of positions; a 3-step training run's
losses within 1% of float32's; an exact patching sweep's logit differences within 2% of their range."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tsft.models import precision as prec

from tests.conftest import tiny
from tests.training.conftest import fast_sft


def test_auto_is_bf16_only_for_large_models_on_bf16_hardware(llama, monkeypatch):
    assert prec.resolve("fp32", llama) == "fp32" and prec.resolve("bf16", llama) == "bf16"
    monkeypatch.setattr(prec, "fast_bf16", lambda device: True)
    assert prec.resolve("auto", llama) == "fp32"  # tiny: below AUTO_MIN_PARAMETERS
    monkeypatch.setattr(prec, "AUTO_MIN_PARAMETERS", 1000)
    assert prec.resolve("auto", llama) == "bf16"
    monkeypatch.setattr(prec, "fast_bf16", lambda device: False)
    assert prec.resolve("auto", llama) == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        prec.resolve("fp16", llama)
    with pytest.raises(ValueError, match="precision 'int8'"):
        prec.resolve("int8", llama)


def test_bf16_forward_agrees_with_float32(llama, dataset, tokenizer):
    from tsft.models.prompts import encode_prompt, prompt_text

    ids = torch.tensor([encode_prompt(tokenizer, prompt_text(p))[:20] for p in dataset.test[:8]])
    with torch.inference_mode():
        reference = llama(ids).logits
        with prec.compute(llama, "bf16") as used:
            low = llama(ids).logits
    assert used == "bf16" and low.dtype == torch.bfloat16
    spread = float(reference.max() - reference.min())
    assert float((low.float() - reference).abs().max()) <= 0.02 * spread
    assert float((low.argmax(-1) == reference.argmax(-1)).float().mean()) >= 0.95


def test_training_in_bf16_follows_the_float32_losses(tokenizer, data_dir, tmp_path, monkeypatch):
    from tsft.models.loading import build_model
    from tsft.training.sft import train_sft

    base = tmp_path / "base"
    build_model("tiny", tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    config = fast_sft(steps=3, save_every=3, lr=1e-3)
    cards = {p: train_sft(base, data_dir, tmp_path / p, dataclasses.replace(config, precision=p), progress=False)
             for p in ("fp32", "bf16")}
    assert cards["bf16"]["precision"] == "bf16" and cards["fp32"]["precision"] == "fp32"
    losses = {p: [loss for _, loss in card["metrics"]["loss"]] for p, card in cards.items()}
    for low, ref in zip(losses["bf16"], losses["fp32"], strict=True):
        assert abs(low - ref) <= 0.01 * ref
    assert losses["bf16"] != losses["fp32"]  # bf16 really ran


def test_patching_in_bf16_agrees_with_float32(tokenizer, dataset):
    from tsft.patching.activation import patch_sweep
    from tsft.patching.conditions import PatchRequest
    from tsft.patching.engines import make_engine
    from tsft.patching.pairs import prepare_pairs
    from tsft.tasks.pairs import theorem_swap_pairs

    model = tiny(tokenizer, seed=1)
    pairs, _ = prepare_pairs(theorem_swap_pairs(dataset.test), tokenizer, "answer")
    pairs = [p for p in pairs if p.wrong is not None][:4]
    request = PatchRequest(components=("resid_pre", "mlp_out"), positions="last")
    reference = patch_sweep(make_engine("hooks", model), pairs, request, progress=False)
    with prec.compute(model, "bf16"):
        low = patch_sweep(make_engine("hooks", model), pairs, request, progress=False)
    key = lambda r: (r["pair_id"], r["layer"], r["component"], r["position"])  # noqa: E731
    ref = {key(r): r["value"] for r in reference}
    assert len(ref) == len(low) > 0
    spread = max(ref.values()) - min(ref.values())
    assert max(abs(r["value"] - ref[key(r)]) for r in low) <= 0.02 * spread
