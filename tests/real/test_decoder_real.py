"""tsft's greedy decoder on SmolLM2-135M-Instruct against HF `generate`: token-identical in float32, and under
bf16 autocast as close to HF's bf16 as HF's own bf16 is to itself at another batch size.

The prompts are theorem-world problems through the chat template with the 'name the theorem, then apply it'
instruction, so the pretrained model writes prose of many lengths (the decoder's batch refills as rows stop)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from tsft.models.decoding import decode_greedy
from tsft.models.generation import hf_generate
from tsft.models.precision import autocast
from tsft.models.prompts import encode_prompt, prompt_format, prompt_text, set_prompt_format
from tsft.tasks.grading import extract_answer
from tsft.tasks.world.generate import WorldConfig, generate_split


@pytest.fixture(scope="module")
def instructed(smollm2):
    model, tokenizer = smollm2
    asked = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    set_prompt_format(asked, replace(prompt_format(tokenizer), system="none", instruction="theorem"))
    prompts = [prompt_text(p, asked) for p in generate_split(WorldConfig(seed=11), "test", 32)]
    return model, asked, prompts


def _ours(model, tokenizer, prompts, n, slots):
    tokens = decode_greedy(model, tokenizer, [encode_prompt(tokenizer, p) for p in prompts], n, slots=slots)
    return [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]


def test_float32_tokens_are_hf_generates(instructed):
    model, tokenizer, prompts = instructed
    reference = hf_generate(model, tokenizer, prompts[:24], 40, batch_size=24)
    assert _ours(model, tokenizer, prompts[:24], 40, slots=8) == reference


@pytest.mark.skipif(not torch.cpu._is_avx512_bf16_supported(), reason="no native bf16 on this CPU")
def test_bf16_outputs_agree_with_hf_bf16_as_hf_agrees_with_itself(instructed):
    model, tokenizer, prompts = instructed
    with autocast("bf16", "cpu"):
        hf_16 = hf_generate(model, tokenizer, prompts, 96, batch_size=16)
        hf_32 = hf_generate(model, tokenizer, prompts, 96, batch_size=32)
        ours = _ours(model, tokenizer, prompts, 96, slots=16)

    def same(a, b, read=lambda text: text):
        return sum(read(x) == read(y) for x, y in zip(a, b, strict=True)) / len(a)

    for read in (lambda text: text, extract_answer):  # whole outputs, then the answers graded
        hf_self = same(hf_16, hf_32, read)
        assert min(same(ours, hf_16, read), same(ours, hf_32, read)) >= hf_self - 0.1, (hf_self, read)
    assert same(ours, hf_32) >= 0.6
