"""Qwen2.5-VL in tsft: vision-language models built, saved and loaded without a hub.

`build_vision_model` makes a random Qwen2.5-VL of a size preset with the synthetic world's tokenizer and a
112-pixel image processor; `load_vision` loads a tsft (or any local) Qwen2.5-VL folder with its image
processor attached to the tokenizer; `vision_tokenizer` trains the word-level tokenizer on the diagram world;
`caption_examples` / `caption_accuracy` teach and measure reading a figure's given (the base corpus's figure
captions). How a figure becomes model inputs is training.images. A tsft Qwen2.5-VL folder holds the model,
the tokenizer and `preprocessor_config.json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tsft.models.images import VISION_TOKENS, attach
from tsft.models.targets import format_vocabulary, render_target
from tsft.models.tokenizer import train_tokenizer
from tsft.tasks.diagram.shapes import FIGURE_VALUE, get_theorem
from tsft.tasks.diagram.world import KINDS, DiagramConfig, generate_split, perturb_all
from tsft.tasks.world.catalogue import tokenizer_corpus


@dataclass(frozen=True)
class VisionPreset:
    hidden_size: int
    layers: int
    heads: int
    kv_heads: int
    intermediate_size: int
    vision_depth: int
    vision_hidden: int
    vision_heads: int
    vision_intermediate: int
    mrope_section: tuple[int, int, int]
    """Rotary pairs for the (time, height, width) axes: they sum to head_dim / 2."""


VISION_PRESETS = {
    "tiny": VisionPreset(64, 2, 4, 2, 128, 2, 32, 2, 64, (2, 3, 3)),
    "small": VisionPreset(128, 4, 4, 2, 384, 2, 64, 4, 128, (4, 6, 6)),
    "base": VisionPreset(512, 8, 8, 4, 1536, 4, 256, 4, 512, (8, 12, 12)),
}


def image_processor_for(size: int = 112):
    """Qwen2.5-VL's image processor for tsft's figures: fixed to `size` x `size` (28-pixel units) and
    normalized around white (mean 1, std 0.5 after rescaling to [0, 1]).

    The figures are black strokes on white. With CLIP's mean and std (Qwen's default) the blank
    background becomes a large constant that every patch shares and the strokes are a small change
    to it: in a new model two figures' image embeddings differed by 0.3% of their norm, and a model
    trained 150 steps on 16 captions ignored the figure entirely (shuffling the figures left its loss
    unchanged). Centred on white, the background is zero and only the strokes carry signal: the same
    run reads all 16 captions exactly after 100 steps, and shuffling the figures raises its loss 30x.
    Real Qwen2.5-VL folders keep their own preprocessor_config.json."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(min_pixels=size * size, max_pixels=size * size,
                                    size={"shortest_edge": size * size, "longest_edge": size * size},
                                    image_mean=[1.0, 1.0, 1.0], image_std=[0.5, 0.5, 0.5])


def build_vision_model(preset: str, tokenizer, seed: int = 0):
    """A randomly initialised Qwen2_5_VLForConditionalGeneration of `preset` for `tokenizer`, seeded."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    if preset not in VISION_PRESETS:
        raise ValueError(f"unknown vision preset {preset!r}; choose one of {', '.join(VISION_PRESETS)}")
    p = VISION_PRESETS[preset]
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in
           zip(("vision_start_token_id", "image_token_id", "vision_end_token_id", "video_token_id"), VISION_TOKENS,
               strict=True)}
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=p.hidden_size, intermediate_size=p.intermediate_size,
                         num_hidden_layers=p.layers, num_attention_heads=p.heads, num_key_value_heads=p.kv_heads,
                         max_position_embeddings=512, attention_dropout=0.0,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": list(p.mrope_section)},
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(depth=p.vision_depth, hidden_size=p.vision_hidden, intermediate_size=p.vision_intermediate,
                           num_heads=p.vision_heads, out_hidden_size=p.hidden_size, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[p.vision_depth - 1]),
        tie_word_embeddings=True, **ids)
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(config)


def load_vision(folder: Path, tokenizer, dtype=None, attn_implementation: str | None = None):
    """(Qwen2.5-VL model, tokenizer with its ImageEncoder) from a local folder."""
    from transformers import Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    if not (folder / "preprocessor_config.json").is_file():
        raise ValueError(f"{folder}: a Qwen2.5-VL folder needs preprocessor_config.json (its image processor)")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, dtype=dtype, use_safetensors=True,
                                                               attn_implementation=attn_implementation)
    return model, attach(tokenizer, Qwen2VLImageProcessorPil.from_pretrained(folder))


def vision_tokenizer(sample: int = 300):
    """The diagram world's tokenizer: the text world's words, the diagram wordings and targets, and
    Qwen2.5-VL's vision tokens as special tokens."""
    problems = generate_split(DiagramConfig(seed=7), "test", sample)
    problems += [r.problem for rows in perturb_all(problems, list(KINDS), seed=7)[0].values() for r in rows]
    texts = [tokenizer_corpus(), format_vocabulary(), *(p.text + render_target(p, "theorem") for p in problems),
             *(figure_caption(p) for p in problems)]
    tokenizer = train_tokenizer(texts)
    tokenizer.add_special_tokens({"additional_special_tokens": list(VISION_TOKENS)})
    return tokenizer


def figure_caption(problem) -> str:
    """What the figure marks, as text: the kind of item and its value ('Figure: angle = 50'). Only what
    the problem text leaves to the figure; the vertex letters are in the text already."""
    theorem = get_theorem(problem.theorems[0].theorem_id)
    key = FIGURE_VALUE[theorem.family.id]
    item = next(o for _, o, k in theorem.slots if k == key).split()[0]
    return f" Figure: {item} = {problem.surface['values'][key]}"


