"""Greedy generation for evaluation.

Prompts are encoded exactly as in training (training.batches.encode_prompt). Text models decode with
tsft's greedy decoder (training.decoding: one static cache of slots, continuous batching, stops on token ids),
which gives HF `generate`'s greedy tokens several times faster; `hf_generate` is HF's own batched
`generate(do_sample=False)`, kept as the reference the decoder is tested and benched against, and used for
vision models (their image inputs and 3-D rotary positions stay HF's) and for models sharded by FSDP (whose
parameters the decoder's one-time weight cast would replace). A row stops at eos, at the end of its
first complete "Answer: X" line (every target style ends with that line; a model that goes on writing after it
has given its answer does not spend the rest of the budget), or at `max_new_tokens`. Outputs come back in the
input order.
"""

from __future__ import annotations

from collections.abc import Sequence

from tsft.models.architectures import is_sharded
from tsft.models.decoding import ANSWER_LINE_END, DECODER_SLOTS, decode_greedy, newline_token_ids
from tsft.models.images import ARCH as VISION_ARCH
from tsft.models.images import image_inputs
from tsft.models.prompts import encode_prompt

HF_BATCH = 64
"""Rows per HF `generate` batch where it is used (vision models): each row of a batch waits for its longest."""


def answer_stop(tokenizer, start: int):
    """A per-row stopping criterion for HF `generate`: True once a row's new text holds a finished answer line."""
    import torch
    from transformers import StoppingCriteria

    newline = newline_token_ids(tokenizer)

    class AnswerLineEnd(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            done = torch.isin(input_ids[:, -1].cpu(), newline)
            for row in done.nonzero().flatten().tolist():
                text = tokenizer.decode(input_ids[row, start:], skip_special_tokens=True)
                done[row] = ANSWER_LINE_END.search(text) is not None
            return done.to(input_ids.device)

    return AnswerLineEnd()


def greedy_generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = DECODER_SLOTS,
                    progress: bool = False, images: Sequence[str | None] | None = None) -> list[str]:
    """Greedy continuations of `prompts` (with `images`, one figure path or None per prompt); `batch_size` rows
    decode together."""
    images = list(images) if images is not None else [None] * len(prompts)
    if model.config.model_type == VISION_ARCH or is_sharded(model) or any(image is not None for image in images):
        return hf_generate(model, tokenizer, prompts, max_new_tokens, min(batch_size, HF_BATCH), progress, images)
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    tokens = decode_greedy(model, tokenizer, encoded, max_new_tokens, slots=batch_size, progress=progress)
    return [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]


def hf_generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = HF_BATCH,
                progress: bool = False, images: Sequence[str | None] | None = None, static: bool = False,
                ) -> list[str]:
    """HF `generate`'s greedy continuations, batches of `batch_size` sorted by length and left-padded (`static`:
    HF's static cache)."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    images = list(images) if images is not None else [None] * len(prompts)
    encoded = [encode_prompt(tokenizer, p, image=image) for p, image in zip(prompts, images, strict=True)]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    pad = tokenizer.pad_token_id
    extra_options = {"cache_implementation": "static"} if static else {}
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="generate", disable=not progress, leave=False):
        rows = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids[r, width - len(encoded[i]):] = torch.tensor(encoded[i])
            mask[r, width - len(encoded[i]):] = 1
        extra = {k: v.to(device) for k, v in image_inputs(tokenizer, ids, [images[i] for i in rows]).items()}
        with torch.no_grad():
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **extra,
                                       do_sample=False, **extra_options,
                                       max_new_tokens=max_new_tokens, use_cache=True, pad_token_id=pad,
                                       eos_token_id=tokenizer.eos_token_id, temperature=None, top_p=None,
                                       top_k=None, stopping_criteria=[answer_stop(tokenizer, width)])
        for r, i in enumerate(rows):
            outputs[i] = tokenizer.decode(generated[r, width:], skip_special_tokens=True)
    return outputs
