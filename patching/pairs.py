"""Patching pairs: token sequences, the right and wrong next token, and named position spans.

A `tasks.pairs.MinimalPair` (a clean and a corrupt problem) becomes a `PatchPair` for one model:

1. Both prompts are built as training builds them (plain or chat) and tokenized; the pair is
   kept only at equal token length, or with a span alignment when `allow_alignment` (otherwise it
   is returned in `rejected` with its reason, from `tasks.pairs.check_pairs`).
2. Both targets are rendered in a style (the checkpoint's own by default) and the shared target
   prefix is appended to both prompts (teacher forcing). The next token is where they first
   differ: `right` is the clean continuation, `wrong` the corrupt one. For a theorem swap read in
   the theorem style that is the theorem's name; in the answer style, the answer's first digit.
   Pairs whose targets agree (surface pairs) have `wrong = None`: use the prob or KL metric.
3. Every position gets one span: `diff` (tokens where the prompts differ: the rule's cue),
   `problem` (the rest of the problem text), `frame` (prompt template tokens), `target` (the
   teacher-forced target prefix) and `last` (the position whose next-token logits are read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tsft.models.images import require_encoder
from tsft.models.prompts import encode_prompt, encode_target, prompt_for
from tsft.models.targets import render_target
from tsft.tasks.pairs import MinimalPair, align, check_pairs

SPANS = ("diff", "problem", "frame", "target", "last")


@dataclass(frozen=True)
class PatchPair:
    """One clean/corrupt pair ready to patch (token ids include the shared target prefix)."""

    pair_id: str
    kind: str
    clean_ids: tuple[int, ...]
    corrupt_ids: tuple[int, ...]
    right: int
    wrong: int | None
    clean_spans: dict[str, tuple[int, ...]]
    corrupt_spans: dict[str, tuple[int, ...]]
    clean_image: str | None = None
    """The figure the clean run sees (vision models; None for text)."""
    corrupt_image: str | None = None

    def images(self, direction: str) -> tuple[str | None, str | None]:
        """(destination figure, source figure) for a direction, as `sides` orders the token ids."""
        self.sides(direction)  # checks the direction
        return ((self.corrupt_image, self.clean_image) if direction == "denoise"
                else (self.clean_image, self.corrupt_image))

    def sides(self, direction: str):
        """(destination ids, source ids, destination spans, dest -> source position map) for a direction.

        denoise: the corrupt run receives clean activations; noise: the clean run receives corrupt ones.
        Positions in the differing span of an unequal-length pair map to -1 (no counterpart).
        """
        if direction not in ("denoise", "noise"):
            raise ValueError(f"unknown direction {direction!r}; use denoise (clean -> corrupt) or noise "
                             "(corrupt -> clean)")
        if direction == "denoise":
            dest, source, spans = self.corrupt_ids, self.clean_ids, self.corrupt_spans
        else:
            dest, source, spans = self.clean_ids, self.corrupt_ids, self.clean_spans
        return dest, source, spans, position_map(dest, source)


def position_map(dest: Sequence[int], source: Sequence[int]) -> list[int]:
    """Source position for each destination position (identity at equal length)."""
    if len(dest) == len(source):
        return list(range(len(dest)))
    spans = align(dest, source)
    shift = len(source) - len(dest)
    return [p if p < spans.prefix else (p + shift if p >= spans.clean_span[1] else -1) for p in range(len(dest))]


def _spans(ids: Sequence[int], other: Sequence[int], offsets, text_range: tuple[int, int], n_prompt: int
           ) -> dict[str, tuple[int, ...]]:
    if len(ids) == len(other):
        diff = {p for p in range(n_prompt) if ids[p] != other[p]}
    else:
        diff = set(range(*align(ids, other).clean_span))
    return label_positions(len(ids), diff, offsets, text_range, n_prompt)


def label_positions(length: int, diff: set[int], offsets, text_range: tuple[int, int], n_prompt: int,
                    diff_name: str = "diff") -> dict[str, tuple[int, ...]]:
    """Each position's span: `diff_name` for `diff`, else problem / frame / target, and `last`."""
    last = length - 1
    groups: dict[str, list[int]] = {name: [] for name in (diff_name, *SPANS[1:])}
    for p in range(length):
        if p == last:
            name = "last"
        elif p >= n_prompt:
            name = "target"
        elif p in diff:
            name = diff_name
        else:
            start, end = offsets[p]
            name = "problem" if start < text_range[1] and end > text_range[0] else "frame"
        groups[name].append(p)
    return {name: tuple(positions) for name, positions in groups.items()}


def prompt_side(problem, tokenizer):
    """(prompt ids, char offsets per token, char range of the problem text in the prompt).

    A problem with a figure has its image placeholder widened first (training.vision), so the
    offsets and the text range refer to the prompt the model reads."""
    prompt = prompt_for(problem.text, tokenizer, image=problem.image is not None)
    if problem.image is not None:
        prompt = require_encoder(tokenizer).expand(prompt, problem.image)
    ids, offsets = encode_prompt(tokenizer, prompt, offsets=True)
    start = prompt.find(problem.text)
    return list(ids), offsets, (start, start + len(problem.text))


def continuation(clean_target: list[int], corrupt_target: list[int], eos: int):
    shared = 0
    while shared < min(len(clean_target), len(corrupt_target)) and clean_target[shared] == corrupt_target[shared]:
        shared += 1
    right = clean_target[shared] if shared < len(clean_target) else eos
    wrong = corrupt_target[shared] if shared < len(corrupt_target) else eos
    return clean_target[:shared], right, (None if right == wrong else wrong)


def prepare_pairs(pairs: Sequence[MinimalPair], tokenizer, target: str = "answer", allow_alignment: bool = False
                  ) -> tuple[list[PatchPair], list[tuple[MinimalPair, str]]]:
    """PatchPairs for `tokenizer`, with next tokens read in the `target` style; plus the rejected pairs."""
    checked = check_pairs(pairs, lambda text: encode_prompt(tokenizer, prompt_for(text, tokenizer)), allow_alignment)
    out = []
    for item in checked.accepted:
        pair = item.pair
        clean, clean_offsets, clean_text = prompt_side(pair.clean, tokenizer)
        corrupt, corrupt_offsets, corrupt_text = prompt_side(pair.corrupt, tokenizer)
        shared, right, wrong = continuation(encode_target(tokenizer, render_target(pair.clean, target)),
                                             encode_target(tokenizer, render_target(pair.corrupt, target)),
                                             tokenizer.eos_token_id)
        clean_ids, corrupt_ids = clean + shared, corrupt + shared
        out.append(PatchPair(
            pair_id=f"{pair.clean.id}|{pair.corrupt.id}", kind=pair.kind,
            clean_ids=tuple(clean_ids), corrupt_ids=tuple(corrupt_ids), right=right, wrong=wrong,
            clean_spans=_spans(clean_ids, corrupt_ids, clean_offsets, clean_text, len(clean)),
            corrupt_spans=_spans(corrupt_ids, clean_ids, corrupt_offsets, corrupt_text, len(corrupt))))
    return out, checked.rejected
