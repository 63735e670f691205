"""The image side of a vision-language model's inputs: placeholder expansion, pixel patches, forward inputs.

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
This module is the ground floor of training/: it imports no other tsft module, so batching, generation,
checkpoints and the trainer can all use it (training.vision builds and loads the models themselves).
"""

from __future__ import annotations

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
