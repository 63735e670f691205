"""The three engines agree to 1e-5, and a patch with the site's own clean value is a no-op."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import ENGINES, make_engine
from tsft.patching.results import tidy
from tsft.patching.sites import COMPONENTS, sites


@pytest.fixture(scope="module")
def engines(arch_model, tokenizer):
    return {name: make_engine(name, arch_model, tokenizer) for name in ENGINES}


def test_captures_agree(engines, arch_model):
    ids = torch.randint(5, 200, (3, 13))
    site_list = sites(arch_model, (*COMPONENTS, "embed"))
    captured = {name: engine.capture(ids, site_list) for name, engine in engines.items()}
    for site in site_list:
        for name in ("nnsight", "tl"):
            torch.testing.assert_close(captured[name][site], captured["hooks"][site], atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", ["spans", "each"])
def test_sweeps_agree(engines, swap_pairs, positions):
    request = PatchRequest(components=("resid_pre", "attn_out", "mlp_hidden", "mlp_out"), positions=positions)
    pairs = swap_pairs[:3]
    frames = {name: tidy(patch_sweep(engine, pairs, request)) for name, engine in engines.items()}
    reference = frames["hooks"]
    assert len(reference) > 0 and reference["value"].std() > 0
    for name in ("nnsight", "tl"):
        assert len(frames[name]) == len(reference)
        assert (frames[name]["value"] - reference["value"]).abs().max() <= 1e-5


@pytest.mark.parametrize("metric", ["logit_diff", "prob", "kl"])
def test_patching_a_site_with_its_own_clean_value_is_a_noop(engines, swap_pairs, metric):
    own = [dataclasses.replace(p, corrupt_ids=p.clean_ids, corrupt_spans=p.clean_spans) for p in swap_pairs[:2]]
    request = PatchRequest(components=COMPONENTS, positions="each", metric=metric)
    for engine in engines.values():
        frame = tidy(patch_sweep(engine, own, request))
        assert (frame["value"] - frame["clean"]).abs().max() <= 1e-5


def test_bridge_leaves_the_wrapped_model_untouched(tokenizer, tmp_path):
    from tests.conftest import tiny

    model = tiny(tokenizer, "qwen2")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    make_engine("tl", model, tokenizer)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.save_pretrained(tmp_path / "still-saves")
    assert (tmp_path / "still-saves" / "model.safetensors").is_file()


def test_engine_errors(llama):
    with pytest.raises(ValueError, match="hooks, nnsight, tl"):
        make_engine("pyvene", llama)
    with pytest.raises(ValueError, match="needs the model's tokenizer"):
        make_engine("nnsight", llama)
