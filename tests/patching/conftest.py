"""Fixtures for patching tests: tiny random Llama, Qwen2 and Gemma 3 models (eager attention; `tiny` and the
`llama` fixture live in tests/conftest.py, shared with probes) and theorem-swap pairs prepared for the
world tokenizer. Unit tests load no trained model."""

from __future__ import annotations

import pytest
from tsft.tasks.pairs import theorem_swap_pairs

from tests.conftest import tiny


@pytest.fixture(scope="session", params=["llama", "qwen2", "gemma3"])
def arch_model(request, tokenizer):
    return tiny(tokenizer, request.param)


@pytest.fixture(scope="session")
def swap_pairs(tokenizer, dataset):
    """Theorem-swap pairs read at the theorem name (the theorem target style)."""
    from tsft.patching.pairs import prepare_pairs

    accepted, rejected = prepare_pairs(theorem_swap_pairs(dataset.test), tokenizer, "theorem")
    assert accepted, rejected
    return accepted


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, tokenizer):
    """A tiny random Llama A and an MLP-only-tuned B, saved as HF folders with the world tokenizer."""
    from tests.patching.test_cross import mlp_only_tuned

    root = tmp_path_factory.mktemp("patch-models")
    a = tiny(tokenizer)
    for name, model in (("a", a), ("b", mlp_only_tuned(a))):
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    return root / "a", root / "b"
