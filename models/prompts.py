"""The prompt around a problem: one builder for every room (SFT, eval, patching, probes, tracing).

Plain models get `PLAIN_PROMPT` ("Problem: <text>\\nSolution:"); instruct models (a tokenizer with
a chat template) get the problem as one user turn through their own chat template. A
`PromptFormat` adjusts it, the same way for every room that reads the model:

* `system` - chat models only. `default`: whatever the template does when no system turn is given
  (SmolLM2's adds "You are a helpful AI assistant named SmolLM, trained by Hugging Face", 26 of a
  theorem-world prompt's ~62 tokens); `none`: no system turn at all (the template's default
  system turn is cut out of the rendered text); any other text: that system prompt.
* `instruction` - text after the problem in the same turn: `answer`, `steps` and `theorem` name
  the instructions in `INSTRUCTIONS` (how a pretrained model is asked for tsft's answer format
  before any SFT), any other text is used as written.
* `shots` - solved examples (problem text, target text) shown first: earlier user/assistant
  turns for chat models, "Problem: ... Solution: ..." blocks for plain ones (`few_shot`).

The format rides on the tokenizer (`set_prompt_format`), because every prompt encoder already
holds it: `training.models.load_model` restores an SFT checkpoint's format from its run card, so
eval, patching and probes prompt a checkpoint exactly as it was trained.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tsft.models.images import IMAGE_PROMPT, require_encoder
from tsft.models.targets import render_target
from tsft.tasks.schema import Problem

PLAIN_PROMPT = "Problem: {text}\nSolution:"
INSTRUCTIONS = {
    "answer": "Give only the final answer, as 'Answer: <answer>'.",
    "steps": "Solve it step by step, then end with 'Answer: <answer>'.",
    "theorem": "Name the theorem you use as 'Theorem: <name>.', apply it step by step, then end with "
               "'Answer: <answer>'.",
}
_MARK = "\x00tsft-system\x00"


@dataclass(frozen=True)
class PromptFormat:
    """How the prompt around a problem is built (see the module doc)."""

    system: str = "default"
    """Chat models: default (the template's own) | none (no system turn) | any other text (that system prompt)."""
    instruction: str = ""
    """After the problem: '' | answer | steps | theorem (named instructions) | any other text."""
    shots: tuple[tuple[str, str], ...] = ()
    """Solved examples (problem text, target text) shown before the problem."""

    def __post_init__(self) -> None:
        import difflib

        word = self.instruction.strip()
        near = difflib.get_close_matches(word, INSTRUCTIONS, n=1, cutoff=0.6)
        if word and " " not in word and word not in INSTRUCTIONS and near:
            raise ValueError(f"instruction {word!r} is neither a named instruction ({', '.join(INSTRUCTIONS)}) nor "
                             f"a sentence; did you mean {near[0]!r}? (text of more than one word is used as written)")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def instruction_text(self) -> str:
        return INSTRUCTIONS.get(self.instruction, self.instruction)


def prompt_format(tokenizer) -> PromptFormat:
    return getattr(tokenizer, "tsft_prompt", None) or PromptFormat()


def set_prompt_format(tokenizer, fmt: PromptFormat | None) -> None:
    """Make every prompt built with `tokenizer` use `fmt` (None: the plain default). A system prompt for a model
    without a chat template is refused: there is no system turn to put it in."""
    if fmt is not None and fmt.system not in ("default", "none") and not is_chat(tokenizer):
        raise ValueError(f"system prompt {fmt.system!r}: this model has no chat template, so a prompt has no system "
                         "turn to hold it; leave the system prompt out (or use a chat model)")
    tokenizer.tsft_prompt = fmt


def is_chat(tokenizer) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def prompt_text(problem: Problem, tokenizer=None) -> str:
    """The prompt for `problem` (a problem with a figure gets the image placeholder before its text)."""
    return prompt_for(problem.text, tokenizer, image=problem.image is not None)


def prompt_for(text: str, tokenizer=None, image: bool = False) -> str:
    """The prompt around a problem text under the tokenizer's `PromptFormat`."""
    fmt = prompt_format(tokenizer)
    if fmt.instruction:
        text = f"{text}\n{fmt.instruction_text}"
    if not is_chat(tokenizer):
        shots = "".join(PLAIN_PROMPT.format(text=q) + a + "\n\n" for q, a in fmt.shots)
        return shots + PLAIN_PROMPT.format(text=f"{IMAGE_PROMPT} {text}" if image else text)
    content = [{"type": "image"}, {"type": "text", "text": text}] if image else text
    messages = [m for q, a in fmt.shots for m in ({"role": "user", "content": q},
                                                  {"role": "assistant", "content": a.strip()})]
    messages.append({"role": "user", "content": content})
    if fmt.system == "none":
        return _without_system(tokenizer, messages)
    if fmt.system != "default":
        messages.insert(0, {"role": "system", "content": fmt.system})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _without_system(tokenizer, messages: list[dict]) -> str:
    """The chat prompt with no system turn: render it after a marked system turn, then cut that turn
    (what the template writes for a system message alone), keeping the bos token a template writes first
    (`{{ bos_token }}`; SmolLM2's bos is its turn opener, which its template never writes alone)."""
    system = [{"role": "system", "content": _MARK}]
    alone = tokenizer.apply_chat_template(system, tokenize=False)
    full = tokenizer.apply_chat_template(system + messages, tokenize=False, add_generation_prompt=True)
    if _MARK not in alone or not full.startswith(alone):
        raise ValueError("this chat template does not render a system turn tsft can remove; use system=default")
    bos = tokenizer.bos_token or ""
    writes_bos = bos and "bos_token" in tokenizer.chat_template and alone.startswith(bos)
    return (bos if writes_bos else "") + full[len(alone):]


def few_shot(pool: Sequence[Problem], k: int, seed: int = 0, exclude: Sequence[str] = ()) -> list[Problem]:
    """`k` problems from `pool` to show solved (seeded choice, one per theorem while theorems last); problems
    whose id is in `exclude` are never chosen. `as_shots` renders them for `PromptFormat.shots`."""
    if k <= 0:
        return []
    candidates = [p for p in pool if p.id not in set(exclude)]
    random.Random(seed).shuffle(candidates)
    chosen, seen = [], set()
    for problem in candidates:  # first pass: distinct theorems; second: fill up
        key = problem.theorem_ids[:1]
        if key not in seen or not key:
            chosen.append(problem)
            seen.add(key)
        if len(chosen) == k:
            break
    chosen += [p for p in candidates if p not in chosen][:k - len(chosen)]
    if len(chosen) < k:
        raise ValueError(f"{k} shots asked, only {len(chosen)} problems to show")
    return chosen


def as_shots(problems: Sequence[Problem], target: str) -> tuple[tuple[str, str], ...]:
    """(problem text, target text in `target` style) per problem, for `PromptFormat.shots`."""
    return tuple((p.text, render_target(p, target)) for p in problems)


def encode_prompt(tokenizer, prompt: str, offsets: bool = False, image: str | None = None):
    """Prompt ids; a chat-formatted prompt already carries its special tokens.

    With `offsets=True`, (ids, [(char start, char end) per token]) instead (fast tokenizers).
    With an `image`, its placeholder is widened to the figure's token count first (training.vision).
    """
    if image is not None:
        prompt = require_encoder(tokenizer).expand(prompt, image)
    encoded = tokenizer(prompt, add_special_tokens=not is_chat(tokenizer), return_offsets_mapping=offsets)
    return (encoded["input_ids"], encoded["offset_mapping"]) if offsets else encoded["input_ids"]


def encode_target(tokenizer, target: str) -> list[int]:
    """Target ids as training sees them after the prompt (no eos)."""
    if is_chat(tokenizer):
        target = target.lstrip()
    return tokenizer(target, add_special_tokens=False)["input_ids"]
