"""Shared test setup: every generator seeded, torch kept to one thread, the world tokenizer and a
small data folder, paths to shared data.

Tests that read the real-data files (MATH-500, GSM8K, TheoremQA; `TSFT_SHARED_DATA`, default
../shared/data beside the repository) skip with a clear reason where they are absent.
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings
from tsft.tasks.build import build_synthetic
from tsft.tasks.world.generate import WorldConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TSFT_SHARED_DATA", REPO.parent / "shared" / "data"))


# Property tests draw from a fixed seed too: the same examples on every run and in CI.
settings.register_profile("seeded", derandomize=True, deadline=None)
settings.load_profile("seeded")


@pytest.fixture(autouse=True)
def seed_everything():
    random.seed(0)
    try:
        import numpy as np

        np.random.seed(0)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(1)
    except ImportError:
        pass
    yield


SMALL_WORLD = WorldConfig(seed=0, n_train=64, n_test=16)


@pytest.fixture(scope="session")
def tokenizer():
    """The synthetic world's word-level tokenizer (shared by training, patching and probes tests)."""
    from tsft.models.tokenizer import world_tokenizer

    return world_tokenizer()


def tiny(tokenizer, arch: str = "llama", seed: int = 0):
    """A tiny random model of `arch` for the world tokenizer, eager attention, in eval mode (seeded)."""
    from tsft.models.loading import build_model

    model = build_model("tiny", tokenizer, arch, seed)
    model.set_attn_implementation("eager")
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """A tiny random Llama saved as an HF folder with the world tokenizer (the trainer's base, the examples' model)."""
    from tsft.models.loading import build_model

    out = tmp_path_factory.mktemp("base") / "tiny"
    build_model("tiny", tokenizer, "llama", 0).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def llama(tokenizer):
    """A tiny random Llama shared by the patching and probes tests."""
    return tiny(tokenizer, "llama")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "small"
    build_synthetic(SMALL_WORLD, out)
    return out


@pytest.fixture(scope="session")
def dataset(data_dir):
    from tsft.tasks.dataset import load_dataset

    return load_dataset(data_dir)


@contextmanager
def another_writer(folder: Path, beside: bool = False):
    """A second process holding `folder`'s write lock (tasks.locking; `beside`: a training run's) for the block;
    yields its pid."""
    import subprocess
    import sys
    import textwrap

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from tsft.tasks.locking import writing
        with writing({str(folder)!r}, beside={beside!r}):
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test saying what is missing and why."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"needs the real-data file {relative}: set TSFT_SHARED_DATA to the folder holding MATH-500, "
                    f"GSM8K and TheoremQA (looked in {SHARED_DATA})")
    return path


@pytest.fixture(scope="session")
def vision_tokenizer():
    """The diagram world's tokenizer carrying Qwen2.5-VL's image encoder (112-pixel figures)."""
    from tsft.models.images import attach
    from tsft.models.vision import image_processor_for, vision_tokenizer

    return attach(vision_tokenizer(sample=60), image_processor_for(112))


@pytest.fixture(scope="session")
def qwen_vl(vision_tokenizer):
    """A tiny random Qwen2_5_VLForConditionalGeneration (eager attention, eval mode, seeded)."""
    from tsft.models.vision import build_vision_model

    model = build_vision_model("tiny", vision_tokenizer, seed=0)
    model.set_attn_implementation("eager")
    return model.eval()


@pytest.fixture(scope="session")
def diagram_dir(tmp_path_factory):
    from tsft.tasks.build import build

    out = tmp_path_factory.mktemp("diagram") / "data"
    build("diagram", out, n_train=24, n_test=12, seed=0)
    return out


@pytest.fixture(scope="session")
def diagram(diagram_dir):
    from tsft.tasks.dataset import load_dataset

    return load_dataset(diagram_dir)
