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
