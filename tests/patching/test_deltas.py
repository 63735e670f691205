"""Delta inference: a "fine-tune" whose update is planted in the MLPs only.

The tuned folder is the tiny base with every MLP weight moved; its attention and norms are the base's. So the
`attn` variant must generate exactly what the base generates, `mlp` and `blocks` exactly what the checkpoint
generates, and the base and the checkpoint must differ (else the test could not fail).
"""

from __future__ import annotations

import pytest
import torch
from tsft.patching.deltas import run_deltas, variant_model


@pytest.fixture(scope="module")
def mlp_tuned_dir(tiny_model_dir, tmp_path_factory):
    from tsft.models.loading import load_model

    model, tokenizer = load_model(tiny_model_dir)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".mlp." in name:
                param.add_(0.5 * param.std() * torch.randn(param.shape, generator=generator))
    out = tmp_path_factory.mktemp("tuned") / "mlp-tuned"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_each_variant_generates_what_its_planted_update_implies(tiny_model_dir, mlp_tuned_dir, data_dir, tmp_path):
    frame = run_deltas(tiny_model_dir, mlp_tuned_dir, data_dir, tmp_path / "deltas", limit=4,
                       kinds=("paraphrase",), progress=False)
    outputs = {v: list(g.sort_values("problem_id")["output"]) for v, g in frame.groupby("variant")}
    assert set(outputs) == {"base", "attn", "mlp", "blocks", "all"}
    assert outputs["base"] != outputs["all"]
    assert outputs["attn"] == outputs["base"]
    assert outputs["mlp"] == outputs["blocks"] == outputs["all"]
    assert set(frame["kind"]) == {"original", "paraphrase"}
    assert (tmp_path / "deltas" / "deltas.parquet").is_file()


def test_variant_model_restores_the_base(llama):
    tuned = type(llama)(llama.config).eval()
    before = {name: p.detach().clone() for name, p in llama.named_parameters()}
    ids = torch.tensor([[3, 4, 5, 6]])
    with variant_model(llama, tuned, "attn") as model:
        assert model is llama
        attn = dict(model.named_parameters())["model.layers.0.self_attn.q_proj.weight"]
        torch.testing.assert_close(attn, dict(tuned.named_parameters())["model.layers.0.self_attn.q_proj.weight"])
        torch.testing.assert_close(dict(model.named_parameters())["model.layers.0.mlp.up_proj.weight"],
                                   before["model.layers.0.mlp.up_proj.weight"])
        model(ids)
    assert all(torch.equal(p, before[name]) for name, p in llama.named_parameters())
    with pytest.raises(ValueError, match="unknown delta variant 'ffn'"), variant_model(llama, tuned, "ffn"):
        pass
