"""Where in a prompt a probe reads: the last prompt token, or the mean over a named span.

A prompt is built exactly as training builds it (`patching.pairs.prompt_side`: plain or chat
template). Position specs:

* `last`     - the last prompt token, whose next-token prediction starts the target;
* `image`    - mean over a figure's tokens (vision models; absent for text problems);
* `problem`  - mean over the tokens of the problem text;
* `frame`    - mean over the prompt template's own tokens (chat markers, "Problem:", ...);
* `name`     - mean over the entity name's tokens (synthetic problems; absent elsewhere);
* `words:a+b`- mean over the tokens of the given words wherever they occur in the problem.

A span that does not occur in a prompt gives no positions; that row's activation is NaN and the
probe leaves it out.
"""

from __future__ import annotations

from tsft.models.images import image_encoder
from tsft.patching.pairs import label_positions, prompt_side
from tsft.patching.tracing import subject_ranges
from tsft.tasks.schema import Problem

POSITION_SPECS = ("last", "problem", "frame", "name", "image", "words:<w1>+<w2>")


def check_position(spec: str) -> str:
    if spec in POSITION_SPECS[:5] or (spec.startswith("words:") and len(spec) > len("words:")):
        return spec
    raise ValueError(f"unknown position {spec!r}; use one of {', '.join(POSITION_SPECS)}")


def image_positions(ids, tokenizer) -> list[int]:
    """Positions of a figure's tokens (none for a text model)."""
    encoder = image_encoder(tokenizer)
    return [] if encoder is None else [p for p, i in enumerate(ids) if i == encoder.image_token_id]


def prompt_positions(problem: Problem, tokenizer, specs: tuple[str, ...]) -> tuple[list[int], dict[str, list[int]]]:
    """(prompt ids, positions per spec) for one problem."""
    ids, offsets, (start, end) = prompt_side(problem, tokenizer)
    spans = label_positions(len(ids), set(), offsets, (start, end), len(ids))
    out: dict[str, list[int]] = {}
    for spec in specs:
        if spec == "last":
            out[spec] = [len(ids) - 1]
        elif spec == "image":
            out[spec] = image_positions(ids, tokenizer)
        elif spec in ("problem", "frame"):
            image = set(image_positions(ids, tokenizer))
            out[spec] = [p for p in spans[spec] if p not in image]
        else:
            ranges = [(start + a, start + b) for a, b in subject_ranges(problem, spec)]
            out[spec] = [p for p, (a, b) in enumerate(offsets) if any(a < hi and b > lo for lo, hi in ranges)]
    return ids, out


def check_words_occur(problems, specs: tuple[str, ...]) -> None:
    """Refuse a `words:` spec none of whose words occurs in any problem (its every row would be NaN), before any
    activation is captured."""
    for spec in specs:
        if spec.startswith("words:") and not any(subject_ranges(problem, spec) for problem in problems):
            raise ValueError(f"position {spec!r}: none of its words occurs in any of the {len(problems)} problems "
                             "probed (words are matched whole, case-sensitive)")
