"""Probes with the model on a CUDA device give the CPU's activations and behaviour (skipped where no
GPU is present). On a CUDA machine: `pytest tests/probes/test_cuda.py`."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tsft.probes.capture import activation_dataset, dataset_rows
from tsft.probes.causal import behaviour
from tsft.probes.erasure import random_eraser

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
SITES = ["blocks.0.resid_post", "blocks.1.mlp_hidden"]


@pytest.fixture(scope="module")
def rows(dataset):
    return dataset_rows(dataset, "test", ["entity_rename"], limit=12)


def test_capture_on_cuda_matches_cpu_and_bf16_is_close(llama, tokenizer, rows, tmp_path):
    torch.backends.cuda.matmul.allow_tf32 = False
    problems, frame = rows
    cpu, features = activation_dataset(llama, tokenizer, problems, frame, SITES, ["last", "problem"],
                                       tmp_path / "cpu", progress=False)
    gpu, _ = activation_dataset(copy.deepcopy(llama).to("cuda"), tokenizer, problems, frame, SITES,
                                ["last", "problem"], tmp_path / "gpu", progress=False)
    half, _ = activation_dataset(copy.deepcopy(llama).to("cuda", torch.bfloat16), tokenizer, problems, frame, SITES,
                                 ["last", "problem"], tmp_path / "bf16", progress=False)
    for feature in features:
        np.testing.assert_allclose(gpu.load(feature), cpu.load(feature), atol=1e-4)
        scale = np.abs(cpu.load(feature)).max()
        assert np.abs(half.load(feature) - cpu.load(feature)).max() <= 0.05 * scale


def test_direction_removal_on_cuda_behaves_as_on_cpu(llama, tokenizer, dataset):
    problems = dataset.test[:4]
    erasers = {"blocks.0.resid_post": random_eraser(np.zeros(llama.config.hidden_size), 8, seed=0)}
    cpu = behaviour(llama, tokenizer, problems, erasers, max_new_tokens=12)
    gpu = behaviour(copy.deepcopy(llama).to("cuda"), tokenizer, problems, erasers, max_new_tokens=12)
    assert gpu == cpu
