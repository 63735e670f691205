"""Parameter selections: frozen parameters stay bitwise unchanged; counts match an independent count."""

from __future__ import annotations

import pytest
import torch
from tsft.models.architectures import architecture
from tsft.models.params import apply_selection, parameter_counts, parse_selection
from tsft.training.distributed import Dist
from tsft.training.sft import encode_problems
from tsft.training.trainer import Run, Trainer

from tests.training.conftest import fast_sft, tiny_model


def _expected_trainable(name: str, spec: str) -> bool:
    """Which base parameter a selection trains, decided from the name alone."""
    if spec == "full":
        return True
    layer = int(name.split(".")[2]) if name.startswith("model.layers.") else None
    if spec == "mlp":
        return ".mlp." in name
    if spec == "attn":
        return ".self_attn." in name
    if spec == "mlp:1-1":
        return ".mlp." in name and layer == 1
    return False  # lora: every base weight is frozen


@pytest.mark.parametrize("spec", ["full", "mlp", "attn", "mlp:1-1", "lora", "lora:gate_proj,up_proj"])
def test_frozen_parameters_stay_bitwise_unchanged(spec, tokenizer, dataset, tmp_path):
    model = apply_selection(tiny_model(tokenizer), parse_selection(spec))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    examples = encode_problems(dataset.train, tokenizer, "theorem", 384, "train")
    run = Run(model=model, tokenizer=tokenizer, examples=examples, out=tmp_path, card={}, dist=Dist(),
              progress=False)
    trainer = Trainer(run, fast_sft(steps=3, save_every=100))
    for _ in range(3):
        trainer.train_step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert changed == trainable  # everything trained moved, nothing frozen did
    if spec.startswith("lora"):
        assert trainable and all("lora_" in n for n in trainable)
        wanted = parse_selection(spec).modules or architecture(model).lora_modules
        assert {n.split(".lora_")[0].rsplit(".", 1)[1] for n in trainable} == set(wanted)
    else:
        base_names = {n for n, _ in model.named_parameters()}
        assert trainable == {n for n in base_names if _expected_trainable(n, spec)}


def test_counts_are_independent_of_tied_weights(tokenizer):
    model = apply_selection(tiny_model(tokenizer), parse_selection("mlp"))
    counts = parameter_counts(model)
    by_name = sum(p.numel() for n, p in model.named_parameters() if ".mlp." in n)
    unique_total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert counts == {"trainable": by_name, "total": unique_total}
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_random_selection_trains_seeded_blocks_of_one_mlps_size(tokenizer):
    """random:<seed> trains the attention and MLP blocks random_blocks draws, about one layer's MLP in size."""
    model = tiny_model(tokenizer)
    one_mlp = sum(p.numel() for n, p in model.named_parameters() if n.startswith("model.layers.0.mlp."))
    attention = sum(p.numel() for n, p in model.named_parameters() if n.startswith("model.layers.0.self_attn."))
    drawn = []
    for seed in range(4):
        chosen = apply_selection(tiny_model(tokenizer), parse_selection(f"random:{seed}"))
        trainable = {n for n, p in chosen.named_parameters() if p.requires_grad}
        blocks = {(int(n.split(".")[2]), "mlp" if ".mlp." in n else "attn") for n in trainable}
        assert all(n.startswith("model.layers.") and (".mlp." in n or ".self_attn." in n) for n in trainable)
        assert one_mlp - min(one_mlp, attention) < parameter_counts(chosen)["trainable"] <= one_mlp
        drawn.append(frozenset(blocks))
    assert len(set(drawn)) > 1 and parse_selection("random:3").spec == "random:3"


@pytest.mark.parametrize("spec, message", [("mlp:3-1", "after last"), ("attn:0-1", "only mlp"),
                                           ("head", "unknown parameter selection"), ("random", "draw number")])
def test_bad_selections_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_selection(spec)


def test_layer_range_beyond_the_model_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="layers 0-1"):
        apply_selection(tiny_model(tokenizer), parse_selection("mlp:0-5"))
