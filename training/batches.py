"""Examples, batch plans and collation: loss on target tokens only, padding never trained on.

An `Example` is a token sequence and the number of leading prompt tokens; the loss covers the
tokens after the prompt (the target, eos included). Pretraining blocks have no prompt, so every
token is a target.

The run's whole data order is a pure function of (example lengths, batch size, seed): epoch e
shuffles with `Random(seed * 1_000_003 + e)`, then sorts each window of 64 batches by length
(length-grouped batching: similar lengths share a micro-batch, so little padding), and cuts it
into global batches. Optimizer step s consumes global batch s, so the data position saved in a
checkpoint is just the step, and a resumed run reads exactly the batches the uninterrupted run
would have. Under DDP each process takes every world-th example of a global batch, so 1 process
and N processes see the same global batch.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tsft.models.prompts import encode_prompt, encode_target

IGNORE = -100
GROUP_WINDOW = 64


@dataclass(frozen=True)
class Example:
    ids: tuple[int, ...]
    n_prompt: int
    image: str | None = None
    """The figure whose tokens the prompt holds (vision models), or None."""

    @property
    def n_target(self) -> int:
        return len(self.ids) - self.n_prompt


def sft_example(tokenizer, prompt: str, target: str, max_length: int, image: str | None = None) -> Example:
    """prompt + target + eos; raises ValueError when the example does not fit `max_length`."""
    prompt_ids = encode_prompt(tokenizer, prompt, image=image)
    target_ids = [*encode_target(tokenizer, target), tokenizer.eos_token_id]
    ids = prompt_ids + target_ids
    if len(ids) > max_length:
        raise ValueError(f"example of {len(ids)} tokens exceeds max_length={max_length}")
    return Example(tuple(ids), len(prompt_ids), image)


def pack_blocks(token_streams: Iterable[list[int]], eos_id: int, block_size: int) -> list[Example]:
    """Documents joined with eos and cut into full blocks of `block_size` (the tail is dropped)."""
    flat: list[int] = []
    for ids in token_streams:
        flat.extend(ids)
        flat.append(eos_id)
    return [Example(tuple(flat[i:i + block_size]), 0) for i in range(0, len(flat) - block_size + 1, block_size)]


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch's global batches of example indices, length-grouped (a partial last batch is dropped)."""
    order = list(range(len(lengths)))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    window = batch_size * GROUP_WINDOW
    grouped: list[int] = []
    for start in range(0, len(order), window):
        grouped.extend(sorted(order[start:start + window], key=lambda i: lengths[i]))
    batches = [grouped[i:i + batch_size] for i in range(0, len(grouped) - batch_size + 1, batch_size)]
    random.Random(seed * 1_000_003 + epoch + 1).shuffle(batches)
    return batches


class BatchPlan:
    """The global batch of every optimizer step (one epoch's plan cached at a time)."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed = list(lengths), batch_size, seed
        self.per_epoch = len(self.lengths) // batch_size
        if self.per_epoch == 0:
            raise ValueError(f"{len(self.lengths)} examples cannot fill one batch of {batch_size}")
        self._epoch, self._batches = -1, []

    def batch(self, step: int) -> list[int]:
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.lengths, self.batch_size, self.seed, epoch)
        return self._batches[index]


def shard(indices: list[int], rank: int, world: int) -> list[int]:
    return indices[rank::world]


def micro_batches(indices: list[int], lengths: Sequence[int], n: int) -> list[list[int]]:
    """`indices` sorted by length and cut into `n` equal micro-batches."""
    ordered = sorted(indices, key=lambda i: lengths[i])
    size = len(ordered) // n
    return [ordered[k * size:(k + 1) * size] for k in range(n)]


def collate(examples: Sequence[Example], pad_id: int, images=None):
    """Right-padded input_ids, attention_mask and labels (IGNORE on prompt, padding and image tokens).

    With examples that hold figures, `images` (a training.vision.ImageEncoder) adds pixel_values,
    image_grid_thw and mm_token_type_ids, in the examples' order."""
    import torch

    width = max(len(e.ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.ids)
        input_ids[row, :n] = torch.tensor(example.ids)
        mask[row, :n] = 1
        labels[row, example.n_prompt:n] = input_ids[row, example.n_prompt:n]
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
    figures = [e.image for e in examples if e.image is not None]
    if images is not None:
        is_image = input_ids == images.image_token_id
        labels[is_image] = IGNORE  # a figure is input, never a target, wherever its tokens sit
        if figures:
            batch.update(images.inputs(input_ids, figures))
    elif figures:
        raise ValueError("examples hold figures but no image encoder was given to collate them")
    return batch
