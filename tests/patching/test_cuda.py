"""The same requests on a CUDA device give the CPU's numbers (skipped where no GPU is present).

On a CUDA machine: `pytest tests/patching/test_cuda.py`. Covers the prefix-cache path, the
exact no-op skipping, attribution, tracing, cross-checkpoint patching and transplant with the
model on the device and the bookkeeping on the CPU, plus a bf16 model.
"""

from __future__ import annotations

import copy

import pytest
import torch
from tsft.patching.activation import patch_sweep
from tsft.patching.attribution import attribution_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.cross import self_pairs, transplanted
from tsft.patching.engines import make_engine
from tsft.patching.results import tidy
from tsft.patching.tracing import causal_trace, trace_prompts

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def on_cuda(llama):
    torch.backends.cuda.matmul.allow_tf32 = False
    return copy.deepcopy(llama).to("cuda")


def test_exact_sweep_matches_cpu(llama, on_cuda, swap_pairs):
    request = PatchRequest(components=("resid_pre", "attn_out", "mlp_hidden", "mlp_out"), positions="each")
    cpu = tidy(patch_sweep(make_engine("hooks", llama), swap_pairs[:4], request))
    gpu = tidy(patch_sweep(make_engine("hooks", on_cuda), swap_pairs[:4], request))
    assert len(cpu) == len(gpu) and (cpu["value"] - gpu["value"]).abs().max() <= 1e-4


def test_attribution_and_tracing_match_cpu(llama, on_cuda, swap_pairs, tokenizer, dataset):
    request = PatchRequest(components=("attn_out", "mlp_out"), positions="spans")
    cpu = tidy(attribution_sweep(llama, swap_pairs[:3], request)[0])
    gpu = tidy(attribution_sweep(on_cuda, swap_pairs[:3], request)[0])
    assert (cpu["value"] - gpu["value"]).abs().max() <= 1e-3
    prompts, _ = trace_prompts(dataset.test[:2], tokenizer, "answer", "name")
    cpu = tidy(causal_trace(make_engine("hooks", llama), prompts, samples=2))
    gpu = tidy(causal_trace(make_engine("hooks", on_cuda), prompts, samples=2))
    assert (cpu["value"] - gpu["value"]).abs().max() <= 1e-4


def test_cross_and_transplant_on_device(on_cuda, tokenizer, dataset):
    pairs = self_pairs(dataset.test[:3], tokenizer, "answer")
    engine = make_engine("hooks", on_cuda)
    frame = tidy(patch_sweep(engine, pairs, PatchRequest(positions="all", metric="prob"), clean_engine=engine))
    assert (frame["value"] - frame["clean"]).abs().max() <= 1e-5
    other = copy.deepcopy(on_cuda)
    with torch.no_grad():
        for param in other.model.layers[0].mlp.parameters():
            param.add_(0.1)
        ids = torch.randint(5, 200, (2, 10), device="cuda")
        with transplanted(other, on_cuda, [0, 1]):
            assert torch.equal(other(ids).logits, on_cuda(ids).logits)


def test_bf16_sweep_runs_and_stays_finite(llama, swap_pairs):
    model = copy.deepcopy(llama).to("cuda", torch.bfloat16)
    frame = tidy(patch_sweep(make_engine("hooks", model), swap_pairs[:3],
                             PatchRequest(components=("mlp_out",), positions="spans")))
    assert frame["value"].notna().all() and len(frame) > 0
