"""Fixtures for training tests: tiny random models and fast SFT settings (the tokenizer and data
folder fixtures live in tests/conftest.py).

Unit tests use tiny random models (no trained model is loaded); the one integration test that
needs learning trains its own tiny base in a test-sized budget.
"""

from __future__ import annotations

import pytest


def tiny_model(tokenizer, arch: str = "llama", seed: int = 0):
    from tsft.models.loading import build_model

    return build_model("tiny", tokenizer, arch, seed)


@pytest.fixture(scope="session")
def base_dir(tiny_model_dir):
    """A tiny random Llama base saved as an HF folder with the world tokenizer."""
    return tiny_model_dir


def fast_sft(**overrides):
    """An SFT config small enough for unit tests (single micro-batch unless overridden)."""
    from tsft.training.config import SFTConfig

    settings = dict(steps=4, batch_size=8, micro_batch_size=8, warmup_steps=1, eval_every=0, save_every=2,
                    eval_size=4, log_every=1, lr=1e-2)
    settings.update(overrides)
    return SFTConfig(**settings)
