"""Across checkpoints: activations of checkpoint A patched into checkpoint B, and MLP weight transplant.

Cross-checkpoint patching asks which sites carry what makes A behave differently from B on the
same prompt (A = theorem-SFT, B = answer-SFT, say). The "clean" run is A on the prompt, the
"corrupt" run B on the same prompt; denoising patches A's activation at one site into B's run.
With the KL metric the normalized score is 1 - KL(A || patched B) / KL(A || B): 0 = B's own
behaviour, 1 = A's. Activations only mean the same thing across checkpoints fine-tuned from one
base with one tokenizer, which `check_same_tokenizer` enforces.

MLP weight transplant replaces the MLP weights of some layers of B by A's (`transplanted`, which
restores B on exit) and measures behaviour: with every layer transplanted, a B that differs from
A only in its MLPs (MLP-only tuning from the same base) computes exactly A's logits (under bf16 autocast too:
the autocast weight-cast cache is cleared on entry and exit, or the swap would be silently ignored). Its
random-location control transplants A's attention and MLP blocks of random layers, as many
parameters as one window (Hase et al. 2023: edits at random places can match located ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from tsft.models.evaluate import splits_accuracy
from tsft.models.generation import DECODER_SLOTS
from tsft.models.params import Block, block_prefixes, random_blocks
from tsft.models.prompts import encode_target
from tsft.models.targets import render_target
from tsft.patching.pairs import PatchPair, prompt_side
from tsft.patching.sites import n_layers
from tsft.tasks.schema import Problem


class CheckpointMismatch(ValueError):
    """Two checkpoints that cannot be compared site by site; the message says what differs."""


def check_same_tokenizer(tokenizer_a, tokenizer_b, names: tuple[str, str] = ("A", "B")) -> None:
    """Raise unless both tokenizers map every token and special token to the same id."""
    vocab_a, vocab_b = tokenizer_a.get_vocab(), tokenizer_b.get_vocab()
    if vocab_a != vocab_b:
        differ = sorted(set(vocab_a.items()) ^ set(vocab_b.items()))[:5]
        raise CheckpointMismatch(f"checkpoints {names[0]} and {names[1]} use different tokenizers "
                                 f"({len(vocab_a)} vs {len(vocab_b)} tokens; e.g. {differ}); positions and token "
                                 "ids would not line up")
    specials = ("bos_token_id", "eos_token_id", "pad_token_id")
    for attr in specials:
        if getattr(tokenizer_a, attr) != getattr(tokenizer_b, attr):
            raise CheckpointMismatch(f"checkpoints {names[0]} and {names[1]}: {attr} differs "
                                     f"({getattr(tokenizer_a, attr)} vs {getattr(tokenizer_b, attr)})")


def check_same_shape(model_a, model_b) -> None:
    shapes_a = {k: tuple(v.shape) for k, v in model_a.state_dict().items()}
    shapes_b = {k: tuple(v.shape) for k, v in model_b.state_dict().items()}
    if shapes_a != shapes_b:
        differ = sorted(set(shapes_a.items()) ^ set(shapes_b.items()))[:4]
        raise CheckpointMismatch(f"the two checkpoints have different architectures (e.g. {differ})")


def self_pairs(problems: Sequence[Problem], tokenizer, target: str = "answer") -> list[PatchPair]:
    """One pair per problem with the same prompt on both sides; `right` = the target's first token."""
    out = []
    for problem in problems:
        ids, _, _ = prompt_side(problem, tokenizer)
        first = encode_target(tokenizer, render_target(problem, target))[0]
        spans = {"frame": tuple(range(len(ids) - 1)), "last": (len(ids) - 1,)}
        out.append(PatchPair(problem.id, "same_prompt", tuple(ids), tuple(ids), first, None, spans, spans))
    return out


def block_parameters(model, blocks: Sequence[Block]) -> dict[str, torch.nn.Parameter]:
    """{name: parameter} of the given blocks (paths from the architecture table, models.architectures)."""
    prefixes = block_prefixes(model, blocks)
    return {name: p for name, p in model.named_parameters() if name.startswith(prefixes)}


def mlp_parameters(model, layers: Sequence[int]) -> dict[str, torch.nn.Parameter]:
    """{name: parameter} of the MLP blocks of `layers`."""
    return block_parameters(model, [(layer, "mlp") for layer in layers])


@contextmanager
def transplanted(model_b, model_a, layers: Sequence[int] = (), blocks: Sequence[Block] = ()):
    """B with the MLP weights of `layers` (and any other `blocks`) copied from A inside the block; B's own weights
    restored on exit."""
    check_same_shape(model_a, model_b)
    chosen = [*((layer, "mlp") for layer in layers), *blocks]
    source = block_parameters(model_a, chosen)
    target = block_parameters(model_b, chosen)
    saved = {name: p.detach().clone() for name, p in target.items()}
    try:
        with torch.no_grad():
            for name, param in target.items():
                param.copy_(source[name])
        torch.clear_autocast_cache()  # autocast keeps each weight's low-precision cast for its whole region
        yield model_b
    finally:
        with torch.no_grad():
            for name, param in target.items():
                param.copy_(saved[name])
        torch.clear_autocast_cache()


def layer_windows(n_layers: int, width: int = 1) -> list[tuple[int, ...]]:
    """Consecutive windows of `width` layers (one per start layer), plus every layer at once."""
    windows = [tuple(range(start, start + width)) for start in range(0, n_layers - width + 1)]
    return windows + ([tuple(range(n_layers))] if width < n_layers else [])


def transplant_sweep(model_b, model_a, tokenizer, splits: Sequence[tuple[str, list[Problem]]], max_new_tokens: int,
                     width: int = 1, batch_size: int = DECODER_SLOTS, names: tuple[str, str] = ("A", "B"),
                     random_draws: int = 0) -> list[dict]:
    """Accuracy (and the share of outputs that name a theorem) of B with A's MLPs in each layer window, on
    each (kind, problems) split; `layers` = "none" is B alone, "source" is A alone. With `random_draws`, the
    random-location control: A's blocks at `random_blocks` of a window's parameter count (`layers` =
    "random:<draw>", `blocks` = which)."""
    def score(model, layers_label, blocks=""):
        return [{"source": names[0], "target": names[1], "layers": layers_label, "blocks": blocks, **row}
                for row in splits_accuracy(model, tokenizer, splits, max_new_tokens, batch_size)]

    rows = score(model_b, "none") + score(model_a, "source")
    for window in layer_windows(n_layers(model_b), width):
        with transplanted(model_b, model_a, window):
            rows += score(model_b, "-".join(map(str, (window[0], window[-1]))) if len(window) > 1 else str(window[0]),
                          " ".join(f"mlp{layer}" for layer in window))
    budget = sum(p.numel() for p in mlp_parameters(model_b, range(width)).values())
    for draw in range(random_draws):
        blocks = random_blocks(model_b, budget, seed=draw)
        with transplanted(model_b, model_a, blocks=blocks):
            rows += score(model_b, f"random:{draw}", " ".join(f"{block}{layer}" for layer, block in blocks))
    return rows
