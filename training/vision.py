"""Qwen2.5-VL in tsft: the image side of a model's inputs, built and saved without a hub.

A Qwen2.5-VL prompt holds `<|vision_start|><|image_pad|><|vision_end|>` where the figure goes.
The image processor (transformers' `Qwen2VLImageProcessorPil`) cuts the figure into 14-pixel
patches, and the vision tower merges each 2x2 block of patches into one language-model token.
So the one `<|image_pad|>` of the prompt is expanded to grid_h * grid_w / 4 copies, exactly as
`Qwen2_5_VLProcessor.replace_image_token` does, and the model scatters the figure's embeddings
into those positions. `mm_token_type_ids` (1 on image tokens) lets the model build its 3-D
(M-RoPE) positions: it must accompany every forward pass with an image.

Why not `Qwen2_5_VLProcessor` itself: it requires a video processor, which requires torchvision,
and no torchvision wheel loads beside the CPU torch this project pins. `ImageEncoder` does the
processor's two jobs for images (placeholder expansion and pixel patches) with the same image
processor class, and a model that received a wrong count of image tokens raises, so the
expansion is checked by the model itself on every forward.

The encoder travels with the tokenizer (`tokenizer.tsft_images`), because every place that
encodes a prompt already holds the tokenizer: `image_encoder(tokenizer)` is None for text models.
A tsft Qwen2.5-VL folder holds the model, the tokenizer and `preprocessor_config.json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

VISION_TOKENS = ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>")
IMAGE_PROMPT = "<|vision_start|><|image_pad|><|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
ARCH = "qwen2_5_vl"


def is_vision_model(model) -> bool:
    return getattr(model.config, "model_type", None) == ARCH


@lru_cache(maxsize=4096)
def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.height, image.width


def open_image(path: str):
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the figure ({err})") from err


class ImageEncoder:
    """Placeholder expansion and pixel patches for one model's image processor and tokenizer."""

    def __init__(self, image_processor, tokenizer):
        self.image_processor = image_processor
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        if self.image_token_id is None or self.image_token_id == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {IMAGE_PAD} token, so it cannot hold an image")
        self.merge = image_processor.merge_size

    def n_tokens(self, path: str) -> int:
        """Language-model tokens the figure at `path` becomes."""
        height, width = _image_size(str(path))
        patches = self.image_processor.get_number_of_image_patches(height, width, {})
        return patches // self.merge ** 2

    def expand(self, prompt: str, path: str) -> str:
        """The prompt with its one image placeholder widened to the figure's token count."""
        count = prompt.count(IMAGE_PAD)
        if count != 1:
            raise ValueError(f"a prompt with a figure needs exactly one {IMAGE_PAD}, found {count}")
        return prompt.replace(IMAGE_PAD, IMAGE_PAD * self.n_tokens(path))

    def pixels(self, paths) -> dict:
        """{pixel_values: [patches, channels*2*14*14], image_grid_thw: [images, 3]} for the figures."""
        return dict(self.image_processor(images=[open_image(p) for p in paths], return_tensors="pt"))

    def inputs(self, ids, paths) -> dict:
        """The forward inputs a batch of `ids` holding these figures' tokens needs besides the ids:
        pixel_values, image_grid_thw and mm_token_type_ids (1 on image tokens)."""
        return {**self.pixels(paths), "mm_token_type_ids": (ids == self.image_token_id).int()}

    def save(self, folder: Path) -> None:
        self.image_processor.save_pretrained(folder)


def image_encoder(tokenizer) -> ImageEncoder | None:
    return getattr(tokenizer, "tsft_images", None)


def require_encoder(tokenizer) -> ImageEncoder:
    encoder = image_encoder(tokenizer)
    if encoder is None:
        raise ValueError("this problem has a figure but the model has no image encoder (not a vision model)")
    return encoder


def image_inputs(tokenizer, ids, images) -> dict:
    """pixel_values, image_grid_thw and mm_token_type_ids for a batch of `ids` holding `images`' tokens
    (empty when no row has a figure)."""
    figures = [p for p in images if p is not None]
    return require_encoder(tokenizer).inputs(ids, figures) if figures else {}


def attach(tokenizer, image_processor):
    """`tokenizer` carrying an ImageEncoder (see the module docstring)."""
    tokenizer.tsft_images = ImageEncoder(image_processor, tokenizer)
    return tokenizer


def model_inputs(batch: dict) -> dict:
    """The forward-pass inputs of a collated batch: everything but the labels (figures included)."""
    return {k: v for k, v in batch.items() if k != "labels"}


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
    from tasks.diagram.world import KINDS, DiagramConfig, generate_split, perturb_all
    from tasks.world.catalogue import tokenizer_corpus
    from training.corpus import format_vocabulary
    from training.targets import render_target
    from training.tokenizer import train_tokenizer

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
    from tasks.diagram.shapes import FIGURE_VALUE, get_theorem

    theorem = get_theorem(problem.theorems[0].theorem_id)
    key = FIGURE_VALUE[theorem.family.id]
    item = next(o for _, o, k in theorem.slots if k == key).split()[0]
    return f" Figure: {item} = {problem.surface['values'][key]}"


def caption_examples(tokenizer, config, folder: Path) -> list:
    """Figure-caption examples for a vision base: a figure drawn into `folder`, the caption its target
    (`caption_of(example, tokenizer)` gives the caption back)."""
    from tasks.diagram.draw import png_bytes
    from tasks.diagram.world import DiagramConfig, figure_image, generate_split
    from training.batches import sft_example

    folder.mkdir(parents=True, exist_ok=True)
    world = DiagramConfig(seed=config.seed + 20_000, size=config.figure_size)
    examples = []
    for problem in generate_split(world, "train", config.n_figures):
        path = folder / f"{problem.id}.png"
        if not path.is_file():
            path.write_bytes(png_bytes(figure_image(problem)))
        examples.append(sft_example(tokenizer, IMAGE_PROMPT, figure_caption(problem), config.block_size, str(path)))
    return examples


def caption_of(example, tokenizer) -> str:
    return tokenizer.decode(list(example.ids[example.n_prompt:]), skip_special_tokens=True)


def caption_accuracy(model, tokenizer, examples) -> dict:
    """How well a vision base reads figures: greedy captions of held-out figures, exactly right, and with the
    marked value right (the part no text can give away)."""
    import re

    examples = [e for e in examples if e.image is not None]
    if not examples:
        return {}
    wanted = [caption_of(e, tokenizer).strip() for e in examples]
    from training.generation import greedy_generate

    longest = max(len(e.ids) - e.n_prompt for e in examples)
    got = [g.strip() for g in greedy_generate(model, tokenizer, [IMAGE_PROMPT] * len(examples), longest,
                                              images=[e.image for e in examples])]

    def value(text: str) -> str | None:
        match = re.search(r"=\s*(\d+)\s*$", text)
        return match.group(1) if match else None

    return {"caption_exact": round(sum(a == b for a, b in zip(got, wanted, strict=True)) / len(wanted), 4),
            "caption_value": round(sum(value(a) == value(b) is not None for a, b in zip(got, wanted, strict=True))
                                   / len(wanted), 4)}
