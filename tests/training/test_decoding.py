"""tsft's greedy decoder against HF `generate` (the independent computation): token-identical in float32 on tiny
Llama, Qwen2 and Gemma3 models (sdpa and eager attention, sliding windows), stops at the same token as HF's
text-decoding answer-line criterion, continuous batching exercised; weights cast once change no logit."""

from __future__ import annotations

import collections
import copy

import pytest
import torch
from tsft.models.decoding import decode_greedy
from tsft.models.generation import hf_generate
from tsft.models.kvslots import SlotCache, cast_linear_weights
from tsft.models.prompts import encode_prompt, prompt_text

from tests.training.conftest import tiny_model


def _chaotic(model, seed: int = 1):
    """Larger random weights: a random tiny model otherwise repeats one token forever. (Gemma 3 scales its
    embeddings by sqrt(d_model): smaller weights keep it from saying one token whatever the prompt.)"""
    generator = torch.Generator().manual_seed(seed)
    scale = 0.02 if model.config.model_type == "gemma3_text" else 0.15
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return model.eval()


def _frequent_eos(model, tokenizer, prompts):
    """A copy of the tokenizer whose eos is a token the model writes now and then, so rows stop at many
    different lengths (what continuous batching is for)."""
    said = hf_generate(model, tokenizer, prompts[:16], 24)
    counts = collections.Counter(t for text in said for t in tokenizer(text, add_special_tokens=False).input_ids)
    stopping = copy.deepcopy(tokenizer)
    stopping.eos_token_id = counts.most_common(3)[-1][0]
    return stopping


def _ours(model, tokenizer, prompts, n, **kwargs):
    tokens = decode_greedy(model, tokenizer, [encode_prompt(tokenizer, p) for p in prompts], n, **kwargs)
    return [tokenizer.decode(t, skip_special_tokens=True) for t in tokens], tokens


@pytest.fixture(scope="module")
def prompts(tokenizer):
    from tsft.tasks.world.generate import WorldConfig, generate_split

    return [prompt_text(p, tokenizer) for p in generate_split(WorldConfig(seed=5), "test", 256)]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_float32_tokens_are_hf_generates(arch, attention, tokenizer, prompts):
    model = _chaotic(tiny_model(tokenizer, arch, seed=3))
    model.set_attn_implementation(attention)
    stopping = _frequent_eos(model, tokenizer, prompts)
    reference = hf_generate(model, stopping, prompts, 70, batch_size=32)
    ours, tokens = _ours(model, stopping, prompts, 70, slots=16, refill=3)
    assert len(prompts) == 256 and ours == reference
    lengths = {len(t) for t in tokens}
    assert min(lengths) < 10 and max(lengths) == 70 and len(lengths) > 20  # stops all over, and the cache grew


def _sliding(arch, tokenizer):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, Qwen2Config, Qwen2ForCausalLM

    common = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                  num_attention_heads=4, sliding_window=8, max_position_embeddings=512,
                  pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    if arch == "gemma3":
        types = ["sliding_attention"] * 3 + ["full_attention"]
        return Gemma3ForCausalLM(Gemma3TextConfig(**common, num_key_value_heads=1, head_dim=32, layer_types=types))
    return Qwen2ForCausalLM(Qwen2Config(**common, num_key_value_heads=2, use_sliding_window=True,
                                        max_window_layers=2))


@pytest.mark.parametrize("arch", ["gemma3", "qwen2"])
def test_sliding_window_layers_see_only_their_window(arch, tokenizer, prompts, monkeypatch):
    model = _chaotic(_sliding(arch, tokenizer))
    assert "sliding_attention" in model.config.layer_types
    stopping = _frequent_eos(model, tokenizer, prompts)
    reference = hf_generate(model, stopping, prompts[:64], 40, batch_size=16)
    assert _ours(model, stopping, prompts[:64], 40, slots=16, refill=3)[0] == reference
    # the window matters here: with it ignored the decoder would not be HF's
    import tsft.models.kvslots as kvslots

    real_init = kvslots.SlotMasks.__init__

    def no_window(self, *args):
        real_init(self, *args)
        self.window = None

    monkeypatch.setattr(kvslots.SlotMasks, "__init__", no_window)
    assert _ours(model, stopping, prompts[:64], 40, slots=16, refill=3)[0] != reference


class ScriptedLM(torch.nn.Module):
    """A stand-in causal LM whose next token is a fixed random function of (position, current token), drawn from
    answer-line pieces ('Answer', ':', ' 5', line breaks, ' x', eos): rows finish answer lines, write lines that
    are not finished ('Answer:' then nothing), stop at eos or run to the budget, at many different points."""

    PIECES = ("Answer", "▁Answer", ":", "▁:", "\n", "▁\n", *(f"▁{d}" for d in "123456789"), "5", "▁x", "x", "▁y", "y")

    def __init__(self, tokenizer, positions: int = 256, seed: int = 0):
        from transformers import LlamaConfig

        super().__init__()
        vocab = tokenizer.get_vocab()
        pieces = [vocab[p] for p in self.PIECES] + [tokenizer.eos_token_id]
        weights = torch.tensor([4, 1, 4, 1, 3, 1, *[0.4] * 9, 1, 1, 1, 1, 1, 0.3])
        generator = torch.Generator().manual_seed(seed)
        draws = torch.multinomial(weights, positions * len(tokenizer), replacement=True, generator=generator)
        self.script = torch.tensor(pieces)[draws].view(positions, len(tokenizer))
        self.config = LlamaConfig(vocab_size=len(tokenizer))
        self.config._attn_implementation = "sdpa"
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def next_token(self, position: int, token: int) -> int:
        return int(self.script[position, token])

    def forward(self, input_ids, position_ids=None, attention_mask=None, cache=None, use_cache=None,
                logits_to_keep=0):
        from types import SimpleNamespace

        chosen = self.script[position_ids[:, -1], input_ids[:, -1].cpu()]
        return SimpleNamespace(logits=torch.nn.functional.one_hot(chosen, self.config.vocab_size)[:, None].float())


def test_rows_stop_where_the_answer_line_rule_on_the_decoded_text_stops_them(tokenizer, prompts):
    from tsft.models.decoding import ANSWER_LINE_END

    model = ScriptedLM(tokenizer)
    encoded = [encode_prompt(tokenizer, p) for p in prompts[:128]]
    tokens = decode_greedy(model, tokenizer, encoded, 24, slots=8, refill=2)
    reasons = collections.Counter()
    for ids, got in zip(encoded, tokens, strict=True):  # the rule written out: decode the whole text each step
        want, token, position = [], ids[-1], len(ids) - 1
        while len(want) < 24:
            token, position = model.next_token(position, token), position + 1
            want.append(token)
            if token == tokenizer.eos_token_id:
                reasons["eos"] += 1
                break
            if ANSWER_LINE_END.search(tokenizer.decode(want, skip_special_tokens=True)):
                reasons["answer"] += 1
                break
        assert got == want
    assert reasons["answer"] >= 20 and reasons["eos"] >= 5 and 128 - sum(reasons.values()) >= 5, reasons


def test_continuous_batching_refills_and_compacts(tokenizer, prompts, monkeypatch):
    calls = collections.Counter()
    for name in ("prefill", "move"):
        real = getattr(SlotCache, name)

        def counted(self, *args, _real=real, _name=name):
            calls[_name] += 1
            return _real(self, *args)

        monkeypatch.setattr(SlotCache, name, counted)
    model = _chaotic(tiny_model(tokenizer, "llama", seed=3))
    stopping = _frequent_eos(model, tokenizer, prompts)
    decode_rows = []
    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: decode_rows.append(len(kwargs["input_ids"])) if kwargs["input_ids"].shape[1] == 1
        else None, with_kwargs=True)
    ours, tokens = _ours(model, stopping, prompts[:60], 50, slots=8, refill=2)
    hook.remove()
    assert calls["prefill"] > 10 and calls["move"] >= 1
    assert ours == hf_generate(model, stopping, prompts[:60], 50, batch_size=60)
    # a decode step runs only rows still decoding: every row's tokens after its prefill's first, nothing more
    assert sum(decode_rows) == sum(len(t) for t in tokens) - len(tokens)
    assert min(decode_rows) < 8


def test_the_first_fill_prefills_groups_of_refill_prompts(tokenizer, prompts):
    from tsft.models.decoding import DecodeStats

    model = _chaotic(tiny_model(tokenizer, "llama", seed=3))
    stats = DecodeStats()
    ours, _ = _ours(model, tokenizer, prompts[:16], 1, slots=16, refill=4, stats=stats)
    assert stats.prefills == 4 and stats.steps == 0  # one new token each: every row stops at its prefill
    assert ours == hf_generate(model, tokenizer, prompts[:16], 1, batch_size=16)


def test_weights_cast_once_give_autocasts_logits_and_are_restored(tokenizer):
    model = tiny_model(tokenizer, "llama", seed=2).eval()
    ids = torch.tensor([encode_prompt(tokenizer, "Problem: What is 2 + 3?\nSolution:")])
    before = {name: p for name, p in model.named_parameters()}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        plain = model(ids).logits
        with cast_linear_weights(model, torch.bfloat16):
            assert model.lm_head.weight.dtype == torch.bfloat16
            cast = model(ids).logits
    assert torch.equal(plain, cast)
    assert all(p is before[name] for name, p in model.named_parameters())
    assert model.lm_head.weight is model.model.embed_tokens.weight  # the tie survives


def test_bad_requests_are_refused(tokenizer):
    model = tiny_model(tokenizer, "llama").eval()
    assert decode_greedy(model, tokenizer, [], 5) == []
    with pytest.raises(ValueError, match="max_new_tokens"):
        decode_greedy(model, tokenizer, [[1, 2]], 0)
    with pytest.raises(ValueError, match="empty prompt"):
        decode_greedy(model, tokenizer, [[1, 2], []], 3)


def test_a_memory_budget_runs_fewer_rows_with_the_same_tokens(tokenizer, prompts):
    """The cache's size is counted from the config by hand (keys + values, every layer, every KV head) and the rows
    run together are cut to what the budget holds; the tokens do not change."""
    from tsft.models.decoding import DecodeStats, cache_bytes_per_position, slots_within

    model = _chaotic(tiny_model(tokenizer, "llama", seed=3))
    config = model.config
    by_hand = 2 * config.num_hidden_layers * config.num_key_value_heads * (
        config.hidden_size // config.num_attention_heads) * 4
    assert cache_bytes_per_position(model, None) == by_hand
    assert cache_bytes_per_position(model, torch.bfloat16) == by_hand // 2
    positions = 100
    row = 2 * (positions + 2 * SlotCache.BLOCK) * by_hand
    assert slots_within(model, 64, positions, None, memory_mb=1) == min(64, 2**20 // row)
    with pytest.raises(ValueError, match="beyond the decoder's memory budget of 1 MiB"):
        slots_within(model, 64, 2**20 // (2 * by_hand), None, memory_mb=1)
    stopping = _frequent_eos(model, tokenizer, prompts)
    stats = DecodeStats()
    tight, _ = _ours(model, stopping, prompts[:40], 40, slots=32, stats=stats, memory_mb=1)
    longest = max(len(encode_prompt(tokenizer, p)) for p in prompts[:40]) + 40
    assert stats.slots == slots_within(model, 32, longest, None, memory_mb=1) < 32
    assert tight == _ours(model, stopping, prompts[:40], 40, slots=32)[0]
