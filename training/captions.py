"""Figure captions as a vision base's training and check: examples whose target is a figure's caption, and
how well a base reads held-out figures (greedy captions, exactly right and with the marked value right)."""

from __future__ import annotations

import re
from pathlib import Path

from tsft.models.generation import greedy_generate
from tsft.models.images import IMAGE_PROMPT
from tsft.models.vision import figure_caption
from tsft.tasks.diagram.draw import png_bytes
from tsft.tasks.diagram.world import DiagramConfig, figure_image, generate_split
from tsft.training.batches import sft_example


def caption_examples(tokenizer, config, folder: Path) -> list:
    """Figure-caption examples for a vision base: a figure drawn into `folder`, the caption its target
    (`caption_of(example, tokenizer)` gives the caption back)."""
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
    examples = [e for e in examples if e.image is not None]
    if not examples:
        return {}
    wanted = [caption_of(e, tokenizer).strip() for e in examples]

    longest = max(len(e.ids) - e.n_prompt for e in examples)
    got = [g.strip() for g in greedy_generate(model, tokenizer, [IMAGE_PROMPT] * len(examples), longest,
                                              images=[e.image for e in examples])]

    def value(text: str) -> str | None:
        match = re.search(r"=\s*(\d+)\s*$", text)
        return match.group(1) if match else None

    return {"caption_exact": round(sum(a == b for a, b in zip(got, wanted, strict=True)) / len(wanted), 4),
            "caption_value": round(sum(value(a) == value(b) is not None for a, b in zip(got, wanted, strict=True))
                                   / len(wanted), 4)}
