"""Weight change from a base (E6) against a hand computation on a tiny model with one known edit."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from tsft.patching.weights import run_weights, weight_change

from tests.conftest import tiny


def test_one_edited_matrix_is_the_only_change_and_its_size_is_exact(tokenizer):
    base = tiny(tokenizer)
    tuned = copy.deepcopy(base)
    weight = tuned.model.layers[1].mlp.up_proj.weight
    delta = torch.randn_like(weight) * 0.01
    with torch.no_grad():
        weight.add_(delta)
    frame = pd.DataFrame(weight_change(base, tuned))
    per_param = frame[frame["parameter"] != "*"].set_index("parameter")["change"]
    name = "model.layers.1.mlp.up_proj.weight"
    before = base.model.layers[1].mlp.up_proj.weight.detach()
    assert per_param[name] == pytest.approx(float(delta.norm() / before.norm()), rel=1e-5)
    assert (per_param.drop(name) == 0).all()
    blocks = frame[frame["parameter"] == "*"].set_index(["layer", "block"])["change"]
    mlp_norm = sum(float(p.detach().norm()) ** 2 for p in base.model.layers[1].mlp.parameters()) ** 0.5
    assert blocks[(1, "mlp")] == pytest.approx(float(delta.norm()) / mlp_norm, rel=1e-5)
    assert blocks[(0, "mlp")] == 0 and blocks[(1, "attn")] == 0
    assert {"embed", "final_norm", "norm"} <= set(frame["block"])


def test_run_weights_writes_a_table_and_refuses_other_architectures(tokenizer, tmp_path):
    base, other = tiny(tokenizer), tiny(tokenizer, seed=1)
    base.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    other.save_pretrained(tmp_path / "other")
    tokenizer.save_pretrained(tmp_path / "other")
    _, frame = run_weights(tmp_path / "base", [tmp_path / "other"], tmp_path / "out")
    assert (tmp_path / "out" / "weights.parquet").is_file() and (frame["change"] > 0).any()
    qwen = tiny(tokenizer, arch="qwen2")
    with pytest.raises(ValueError, match=r"not in the base|shape"):
        weight_change(base, qwen)
