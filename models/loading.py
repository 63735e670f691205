"""Models: size presets for the synthetic world's base, and loading any local HF causal-LM folder.

A tsft base is a plain `LlamaForCausalLM` (or `Qwen2ForCausalLM`, or for diagrams a
`Qwen2_5_VLForConditionalGeneration`, see training.vision) built from a named preset and saved
with `save_pretrained`, so `transformers` alone reloads it. `load_model` opens any local
folder with a `config.json` and safetensors weights (Llama-3.2, Qwen2.5, or a tsft checkpoint)
with its tokenizer, and refuses what it cannot use with an error naming the folder (models.cards'
`Checkpoint.open`: not a folder, no config, no weights, pickle-only weights; here: a tokenizer without
pad or eos - a missing pad falls back to eos, as is usual for Llama; a missing eos is an error:
generation could not stop). `trust_remote_code` is never set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tsft.models.cards import Checkpoint, ModelError
from tsft.models.images import ARCH
from tsft.models.prompts import PromptFormat, set_prompt_format
from tsft.models.tokenizer import is_tsft_tokenizer
from tsft.models.vision import build_vision_model, load_vision

ARCHITECTURES = ("llama", "qwen2", "gemma3", "qwen2_5_vl")


@dataclass(frozen=True)
class Preset:
    """A model size: width, depth, heads and the context it is built for."""

    hidden_size: int
    layers: int
    heads: int
    kv_heads: int
    intermediate_size: int
    max_positions: int = 512


PRESETS: dict[str, Preset] = {
    "tiny": Preset(hidden_size=128, layers=2, heads=4, kv_heads=2, intermediate_size=256),
    "small": Preset(hidden_size=128, layers=4, heads=4, kv_heads=2, intermediate_size=384),
    "base": Preset(hidden_size=512, layers=8, heads=8, kv_heads=4, intermediate_size=1536, max_positions=1024),
}


def model_config(preset: str, vocab_size: int, arch: str = "llama", tokenizer=None):
    """The HF config of `preset` for `arch` (dropout off: runs are deterministic given the seed)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    p = PRESETS[preset]
    common = dict(vocab_size=vocab_size, hidden_size=p.hidden_size, num_hidden_layers=p.layers,
                  num_attention_heads=p.heads, num_key_value_heads=p.kv_heads,
                  intermediate_size=p.intermediate_size, max_position_embeddings=p.max_positions,
                  tie_word_embeddings=True, attention_dropout=0.0)
    if tokenizer is not None:
        common.update(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id)
    if arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common, rope_theta=10000.0)
    if arch == "gemma3":  # Gemma 3's text model: sliding-window layers (window 8 here) before each global one
        from transformers import Gemma3TextConfig

        types = ["sliding_attention"] * (p.layers - 1) + ["full_attention"]
        return Gemma3TextConfig(**common, head_dim=p.hidden_size // p.heads, query_pre_attn_scalar=p.hidden_size //
                                p.heads, sliding_window=8, layer_types=types)
    from transformers import Qwen2Config

    return Qwen2Config(**common, rope_theta=10000.0, use_sliding_window=False)


def build_model(preset: str, tokenizer, arch: str = "llama", seed: int = 0):
    """A randomly initialised causal LM of `preset` for `tokenizer`'s vocabulary, seeded."""
    import torch
    from transformers import AutoModelForCausalLM

    if arch == "qwen2_5_vl":
        return build_vision_model(preset, tokenizer, seed)

    config = model_config(preset, len(tokenizer), arch, tokenizer)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


REFERENCE_SHAPES = {
    "llama-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                     num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True,
                     max_position_embeddings=2048),
}
"""Real-model shapes for GPU benchmarks (random weights; the vocabulary keeps its real size)."""


def reference_shape(name: str, tokenizer):
    """A randomly initialised Llama of a real model's shape (e.g. Llama-3.2-1B), for benchmarks."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if name not in REFERENCE_SHAPES:
        raise ValueError(f"unknown shape {name!r}; choose one of {', '.join(REFERENCE_SHAPES)}")
    config = LlamaConfig(**REFERENCE_SHAPES[name], pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    return LlamaForCausalLM(config)


def load_tokenizer(folder: str | Path):
    """The folder's tokenizer, with a pad token (eos when it has none) and a checked eos."""
    folder = Path(folder)
    try:
        if is_tsft_tokenizer(folder):
            from transformers import PreTrainedTokenizerFast

            tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise ModelError(f"{folder}: cannot load a tokenizer ({err})") from err
    if tokenizer.eos_token_id is None:
        raise ModelError(f"{folder}: the tokenizer has no eos token, so generation could not stop; set "
                         "eos_token in tokenizer_config.json")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def check_device(device: str) -> str:
    """`device`, or a ModelError in one line when torch cannot use it (before any file is read)."""
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"{device} requested but torch has no CUDA here (torch {torch.__version__}); use --device cpu")
    return device


def load_model(folder: str | Path | Checkpoint, dtype=None, device: str = "cpu",
               attn_implementation: str | None = None):
    """(model, tokenizer) from a local HF causal-LM folder (attention as HF defaults unless given); a tsft SFT
    checkpoint's tokenizer carries the prompt format it was trained with (training.prompts).

    A Qwen2.5-VL folder gives a `Qwen2_5_VLForConditionalGeneration` and a tokenizer carrying its
    image encoder (training.vision)."""
    from transformers import AutoModelForCausalLM

    check_device(device)
    checkpoint = folder if isinstance(folder, Checkpoint) else Checkpoint.open(folder)
    folder = checkpoint.folder
    tokenizer = load_tokenizer(folder)
    set_prompt_format(tokenizer, PromptFormat(system=checkpoint.system) if checkpoint.system else None)
    if checkpoint.architecture == ARCH:
        try:
            model, tokenizer = load_vision(folder, tokenizer, dtype, attn_implementation)
        except (OSError, ValueError, KeyError) as err:
            raise ModelError(f"{folder}: cannot load as Qwen2.5-VL ({err})") from err
        return model.to(device), tokenizer
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attn_implementation,
                                                     use_safetensors=True)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"{folder}: cannot load as a causal LM ({err})") from err
    return model.to(device), tokenizer
