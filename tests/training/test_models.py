"""Presets build standard HF models; load_model refuses what it cannot use, naming the folder."""

from __future__ import annotations

import json

import pytest
import torch
from tsft.models.loading import PRESETS, ModelError, load_model, model_config

from tests.training.conftest import tiny_model


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_tiny_models_round_trip_through_plain_transformers(arch, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    model = tiny_model(tokenizer, arch).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.model_type == {"gemma3": "gemma3_text"}.get(arch, arch)
    ids = tokenizer("Problem: What is 2 + 3?\nSolution:", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reloaded(ids).logits)
    _, tok = load_model(tmp_path)
    assert tok(" Answer: 5")["input_ids"] == tokenizer(" Answer: 5")["input_ids"]  # not re-tokenized by a slow class


def test_presets_grow_and_match_their_configs(tokenizer):
    sizes = []
    for name, preset in PRESETS.items():
        config = model_config(name, len(tokenizer), "llama", tokenizer)
        assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == \
            (preset.hidden_size, preset.layers, preset.intermediate_size)
        assert config.eos_token_id == tokenizer.eos_token_id
        sizes.append(preset.hidden_size * preset.layers)
    assert sizes == sorted(sizes)
    with pytest.raises(ValueError, match=r"unknown preset"):
        model_config("huge", 10)
    with pytest.raises(ValueError, match=r"unknown architecture"):
        model_config("tiny", 10, "gpt2")


def test_load_model_refusals_name_the_folder(tokenizer, base_dir, tmp_path):
    with pytest.raises(ModelError, match=r"missing.*not a folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"empty: no config.json"):
        load_model(tmp_path / "empty")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((base_dir / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelError, match=r"only pickle weights.*pytorch_model.bin"):
        load_model(pickled)


def test_tokenizer_without_eos_is_refused_and_missing_pad_falls_back(tokenizer, tmp_path):
    from transformers import PreTrainedTokenizerFast

    tiny_model(tokenizer).save_pretrained(tmp_path)
    plain = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, bos_token="<bos>",
                                    eos_token="<eos>")
    plain.save_pretrained(tmp_path)
    _, loaded = load_model(tmp_path)
    assert loaded.pad_token == "<eos>"
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["eos_token"] = None
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    (tmp_path / "special_tokens_map.json").unlink(missing_ok=True)
    with pytest.raises(ModelError, match=r"no eos token"):
        load_model(tmp_path)


def test_reference_shapes_are_named_and_unknown_ones_refused(tokenizer):
    from tsft.models.loading import REFERENCE_SHAPES, reference_shape

    assert REFERENCE_SHAPES["llama-1b"]["num_hidden_layers"] == 16
    with pytest.raises(ValueError, match="llama-1b"):
        reference_shape("llama-70b", tokenizer)


def test_a_cached_pretrained_folder_is_named_by_its_registry_name(tiny_model_dir, tmp_path):
    """`models/<name>/hf` with a source.json naming <name> (tsft models get) reads as <name>; any other folder,
    a run card's name or the folder's own."""
    import json
    import shutil

    from tsft.models.cards import Checkpoint

    cached = tmp_path / "models" / "smollm2-135m-instruct" / "hf"
    shutil.copytree(tiny_model_dir, cached)
    assert Checkpoint.open(cached).name == "hf"
    (cached / "source.json").write_text(json.dumps({"name": "smollm2-135m-instruct"}))
    assert Checkpoint.open(cached).name == "smollm2-135m-instruct"
    copied = tmp_path / "run" / "base"
    shutil.copytree(cached, copied)
    assert Checkpoint.open(copied).name == "base"
    (cached / "source.json").write_text(json.dumps({"name": "other"}))
    assert Checkpoint.open(cached).name == "hf"
