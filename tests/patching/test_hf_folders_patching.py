"""Patching on the real-model path: local HF folders with their own BPE tokenizers and, for the
instruct-style Qwen2 folder, a chat template (the prompt wraps the problem in special tokens)."""

from __future__ import annotations

import pandas as pd
import pytest
from tsft.models.placement import load_checkpoint
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import ENGINES, make_engine
from tsft.patching.pairs import prepare_pairs
from tsft.patching.requests import SweepRequest
from tsft.patching.results import tidy
from tsft.patching.run import run_sweep
from tsft.tasks.pairs import theorem_swap_pairs

from tests.training.test_hf_folders import _folder


@pytest.fixture(scope="module", params=[("qwen2", True), ("llama", False)], ids=["qwen2-chat", "llama-plain"])
def folder(request, tmp_path_factory):
    arch, chat = request.param
    return _folder(tmp_path_factory.mktemp(arch) / arch, arch, chat), chat


def test_pairs_and_spans_follow_the_folder_prompt_format(folder, dataset):
    path, chat = folder
    _, tokenizer, _ = load_checkpoint(path)
    pairs, rejected = prepare_pairs(theorem_swap_pairs(dataset.test), tokenizer, "answer", allow_alignment=True)
    assert pairs and not [r for r in rejected if "lengths" in r[1]]
    originals = {problem.text for problem in dataset.test}
    for pair in pairs[:10]:
        spans = pair.clean_spans
        assert sorted(p for group in spans.values() for p in group) == list(range(len(pair.clean_ids)))
        frame = tokenizer.decode([pair.clean_ids[p] for p in spans["frame"]])
        assert ("<|im_start|>" in frame) == chat and ("Problem" in frame) != chat
        text = sorted(spans["problem"] + spans["diff"])
        assert text == list(range(text[0], text[-1] + 1)), "the problem text is one contiguous run of tokens"
        assert tokenizer.decode([pair.clean_ids[p] for p in text]).strip() in originals


def test_engines_agree_on_a_saved_folder(folder, dataset):
    path, _ = folder
    model, tokenizer, _ = load_checkpoint(path)
    pairs, _ = prepare_pairs(theorem_swap_pairs(dataset.test), tokenizer, "answer")
    pairs = [p for p in pairs if p.wrong is not None][:2]
    request = PatchRequest(components=("attn_out", "mlp_out"), positions="spans")
    frames = [tidy(patch_sweep(make_engine(name, model, tokenizer), pairs, request)) for name in ENGINES]
    for frame in frames[1:]:
        assert (frame["value"] - frames[0]["value"]).abs().max() <= 1e-5


def test_aligned_sweep_from_the_folder(folder, data_dir, tmp_path):
    path, _ = folder
    request = SweepRequest(sites=PatchRequest(components=("mlp_out",)), limit=6, allow_alignment=True)
    summary, meta = run_sweep(path, data_dir, tmp_path / "out", request, progress=False)
    assert meta["pairs"] > 0 and len(summary) > 0
    pairs = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert pairs["value"].notna().all()


GSM8K_ROWS = [
    ("Natalia sold clips to 48 of her friends in April. How many clips did Natalia sell?", "48"),
    ("Weng earns 12 dollars an hour. She worked 5 hours. How many hours did Weng work?", "5"),
    ("James writes 3 letters to 2 friends. How many letters does James write?", "6"),
    ("Betty has 15 apples and buys 5 more. How many apples does Betty have?", "20"),
]


def test_real_data_folder_pairs_originals_with_their_perturbations(tmp_path):
    """A GSM8K-format file -> a real data folder with real-text perturbations -> patching pairs."""
    import json

    from tsft.tasks.build import build_real
    from tsft.tasks.dataset import load_dataset
    from tsft.tasks.pairs import perturbation_pairs

    source = tmp_path / "gsm8k.jsonl"
    source.write_text("".join(json.dumps({"question": q, "answer": f"So.\n#### {a}"}) + "\n" for q, a in GSM8K_ROWS))
    build_real("gsm8k", source, tmp_path / "real")
    dataset = load_dataset(tmp_path / "real")
    pairs = perturbation_pairs(dataset, ["entity_rename"])
    assert pairs and all(p.kind == "perturbed:entity_rename" and p.clean.text != p.corrupt.text for p in pairs)
    with pytest.raises(ValueError, match="no perturbed split"):
        perturbation_pairs(dataset, ["cue_conflict"])
    path = _folder(tmp_path / "qwen2", "qwen2", True)
    request = SweepRequest(sites=PatchRequest(components=("mlp_out",), metric="kl"), pairs="perturbed:entity_rename",
                           allow_alignment=True)
    summary, meta = run_sweep(path, tmp_path / "real", tmp_path / "out", request, progress=False)
    assert meta["pairs"] == len(pairs) and set(summary["pair_type"]) == {"perturbed:entity_rename"}
