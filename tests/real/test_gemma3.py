"""Gemma-3-270M (base) through tsft: the converted folder and its terms, the three patching engines against each
other in float32 at every site, AtP*'s attention record under sliding-window masks, the decoder against HF
generate, and eval / patching / probes / SFT on it."""

from __future__ import annotations

import json

import pytest
import torch
from tsft.patching.engines import make_engine
from tsft.patching.pairs import prepare_pairs
from tsft.patching.sites import COMPONENTS, sites
from tsft.tasks.pairs import theorem_swap_pairs


@pytest.fixture(scope="module")
def pairs(gemma, dataset):
    _, tokenizer = gemma
    ready, _ = prepare_pairs(theorem_swap_pairs(dataset.test), tokenizer, "answer")
    return [p for p in ready if p.wrong is not None and len(p.clean_ids) == len(p.corrupt_ids)]


def test_the_folder_is_plain_transformers_with_its_terms_recorded(gemma_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gemma_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(gemma_dir)
    config = model.config
    assert (config.model_type, config.num_hidden_layers, config.hidden_size, config.vocab_size) == (
        "gemma3_text", 18, 640, 262144)
    assert config.layer_types.count("full_attention") == 3 and not tokenizer.chat_template  # a base model
    ids = tokenizer("The sum of the interior angles of a triangle is", return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=6, do_sample=False)
    assert "180" in tokenizer.decode(out[0, ids.shape[1]:])
    source = json.loads((gemma_dir / "source.json").read_text())["source"]
    assert source["license"] == "Gemma Terms of Use" and source["terms_accepted"] and len(source["parts"]) == 4
    assert (gemma_dir.parent / source["terms_file"]).is_file()


def test_three_engines_agree_in_float32_on_every_site(gemma, pairs):
    """Gemma's residual stream reaches ~1e5, so agreement is relative: 1e-4 of each site's largest value; patched
    runs' logits within 1e-4 of their range."""
    model, tokenizer = gemma
    pair = pairs[0]
    clean, corrupt = torch.tensor([pair.clean_ids]), torch.tensor([pair.corrupt_ids])
    every = sites(model, COMPONENTS)
    engines = {name: make_engine(name, model, tokenizer) for name in ("hooks", "nnsight", "tl")}
    captured = {name: engine.capture(clean, every) for name, engine in engines.items()}
    for site in every:
        scale = float(captured["hooks"][site].abs().max())
        for name in ("nnsight", "tl"):
            assert float((captured[name][site] - captured["hooks"][site]).abs().max()) <= 1e-4 * scale, (name, site)
    mask = torch.zeros(corrupt.shape, dtype=torch.bool)
    mask[0, -1] = True
    for site in [s for s in every if s.component in ("resid_pre", "attn_out", "mlp_out") and s.layer in (0, 5, 17)]:
        replacement = {site: (mask, captured["hooks"][site])}
        logits = {name: engine.run(corrupt, replacement) for name, engine in engines.items()}
        spread = float(logits["hooks"].max() - logits["hooks"].min())
        for name in ("nnsight", "tl"):
            assert float((logits[name] - logits["hooks"]).abs().max()) <= 1e-4 * spread, (name, site)


def test_atp_star_attention_record_is_gemmas_own_pattern(gemma, pairs):
    """Queries and keys (after Gemma's q/k norms) with one position swapped give the pattern HF computes under
    that exact patch, in a sliding-window layer (2) and a global one (5)."""
    from tests.real.attention_check import assert_record_is_the_exact_patch_pattern

    for layer in (2, 5):
        assert_record_is_the_exact_patch_pattern(gemma[0], pairs[0], layer)


def test_the_decoder_is_hf_generate_in_float32(gemma, dataset):
    from tsft.models.decoding import decode_greedy
    from tsft.models.generation import hf_generate
    from tsft.models.prompts import encode_prompt, prompt_text

    model, tokenizer = gemma
    prompts = [prompt_text(p, tokenizer) for p in dataset.test[:24]]
    ours = decode_greedy(model, tokenizer, [encode_prompt(tokenizer, p) for p in prompts], 40, slots=8, refill=2)
    assert [tokenizer.decode(t, skip_special_tokens=True) for t in ours] == hf_generate(model, tokenizer, prompts,
                                                                                        40, batch_size=8)


def test_rooms_run_on_it(gemma_dir, data_dir, tmp_path):
    """eval, exact + attribution + AtP* patching, probes and a 1-step MLP-only SFT (kept small: Gemma's 262k-token
    vocabulary makes every forward and backward costly on CPU)."""
    from tsft.models.evaluate import run_eval
    from tsft.patching.conditions import PatchRequest
    from tsft.patching.requests import SweepRequest
    from tsft.patching.run import run_sweep
    from tsft.probes.fitting import ProbeConfig
    from tsft.probes.run import ProbeRequest, run_probes
    from tsft.training.sft import train_sft

    from tests.training.conftest import fast_sft

    _, summary = run_eval(gemma_dir, data_dir, tmp_path / "eval", ["original"], limit=2, max_new_tokens=8,
                          progress=False)
    assert summary["n"].tolist() == [2]
    sweep = SweepRequest(sites=PatchRequest(components=("mlp_out",), layers=(2, 5), positions="last"), limit=1,
                         method="all")
    _, meta = run_sweep(gemma_dir, data_dir, tmp_path / "sweep", sweep, progress=False)
    assert meta["pairs"] == 1 and "atp_star_vs_exact" in meta
    probe = ProbeRequest(components=("resid_post",), layers=(5,), labels=("domain",), kinds=("entity_rename",),
                         config=ProbeConfig(folds=2, mdl=False))
    frame, _ = run_probes([gemma_dir], data_dir, tmp_path / "probes", probe, progress=False)
    assert set(frame["layer"]) == {5}
    card = train_sft(gemma_dir, data_dir, tmp_path / "tuned", fast_sft(steps=1, batch_size=1, micro_batch_size=1,
                     lr=1e-4, params="mlp", save_every=1, target="answer", compile="off"), progress=False)
    assert card["status"] == "complete" and card["parameters"]["trainable"] < card["parameters"]["total"]
