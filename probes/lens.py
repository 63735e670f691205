"""Lenses: at which layer does the right theorem's name, or the answer, become decodable from the residual stream?

A lens reads a layer's residual stream as if it were the last one: through the model's final norm and its
unembedding, the next-token distribution that layer "already has in mind".

* **Logit lens** (nostalgebraist 2020): the residual stream after layer l, as it is.
* **Tuned lens** (Belrose et al. 2023, arXiv 2303.08112): first an affine translator per layer, h + A_l h + b_l
  (A_l, b_l start at 0, so it starts as the logit lens), fitted on training prompts: by default in closed form,
  the ridge regression of the last layer's residual on layer l's (`lstsq`, seconds on a CPU); or by Belrose et
  al.'s objective, the KL divergence from the model's own final distribution to the lens's (`kl`, Adam;
  minutes a step on 2 CPU cores at SmolLM2's size, so for GPUs). Middle layers' residuals are not in the last
  layer's basis; the translator corrects that, so a tuned lens says what a layer *encodes*, the logit lens
  what it already *says*.

The read point is teacher-forced, as patching reads it: the prompt, then the target's fixed prefix up to the
decision ("Theorem:" in the theorem style, "Answer:" in the answer style), and the token read is the first one
after it (the theorem's name, the answer's first token). Per layer and problem: that token's probability and
rank (0 = the lens's top token) under each lens; tables per (checkpoint, lens, style, layer, kind) average them,
and `decodable_layer` gives the first layer where the right token is the lens's top token for at least half of
the originals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tsft.models.architectures import architecture, n_layers
from tsft.models.prompts import encode_prompt, encode_target, prompt_text
from tsft.models.targets import render_target
from tsft.patching.hooks import intervene
from tsft.probes.lens_tables import decodable_layer

MARKERS = {"theorem": "Theorem:", "answer": "Answer:"}
"""Where each target style's decision is read: the first token after this marker."""


@dataclass(frozen=True)
class ReadPoint:
    """One problem's teacher-forced input and the token whose rank the lenses read."""

    problem_id: str
    kind: str
    ids: tuple[int, ...]
    right: int


def read_point(problem, tokenizer, style: str, kind: str = "original") -> ReadPoint | None:
    """The prompt plus the target's prefix up to the decision, and the token after it (None where the target has
    no marker, or the marker's tokens are not a prefix of the target's)."""
    text = render_target(problem, style)
    marker = MARKERS[style]
    if marker not in text:
        return None
    cut = text.index(marker) + len(marker)
    prefix, full = encode_target(tokenizer, text[:cut]), encode_target(tokenizer, text)
    if full[:len(prefix)] != prefix or len(full) <= len(prefix):
        return None
    prompt = list(encode_prompt(tokenizer, prompt_text(problem, tokenizer)))
    return ReadPoint(problem.id, kind, tuple(prompt + prefix), full[len(prefix)])


def final_norm(model):
    return model.get_submodule(architecture(model).final_norm)


@torch.no_grad()
def residuals(model, ids: Sequence[int], positions: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    """([positions, layers, d] the residual stream after each layer, [vocab] the model's last-position logits)."""
    names = [f"blocks.{layer}.resid_post" for layer in range(n_layers(model))]
    device = next(model.parameters()).device
    with intervene(model, capture=names) as seen:
        logits = model(torch.tensor([list(ids)], device=device), logits_to_keep=1).logits[0, -1].float()
    return torch.stack([seen[name][0, positions].float() for name in names], dim=1), logits


def last_residuals(model, ids: Sequence[int]) -> torch.Tensor:
    """[layers, d]: the residual stream after each layer at the last position."""
    return residuals(model, ids, slice(-1, None))[0][0]


def lens_logits(model, residuals: torch.Tensor, translators=None) -> torch.Tensor:
    """[layers, vocab] logits of each layer's residual (through the translators when given: the tuned lens)."""
    if translators is not None:
        residuals = torch.stack([translators[i](r) for i, r in enumerate(residuals)])
    weight = model.get_output_embeddings().weight
    return (final_norm(model)(residuals.to(weight.dtype)) @ weight.T).float()


class Translator(torch.nn.Module):
    """h + A h + b, starting at the identity (A = 0, b = 0)."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.linear(h)


def fit_tuned_lens(model, inputs: Sequence[Sequence[int]], method: str = "lstsq", steps: int = 200,
                   lr: float = 1e-3, seed: int = 0, ridge: float = 1e-2, progress: bool = False
                   ) -> torch.nn.ModuleList:
    """Per-layer translators fitted on training prompts (token id lists).

    `lstsq` (default on a CPU): each layer's residual mapped to the last layer's by ridge regression (toward the
    identity) over every position, in closed form (the translator that best reproduces the final residual,
    hence, through the same norm and unembedding, nearly the final distribution). `kl`: Belrose et al.'s
    objective, KL(final || lens) by Adam for `steps` steps on the read points (the last position of each input);
    a step costs a d x vocab product per layer and position, minutes on 2 CPU cores at SmolLM2's size."""
    if method not in ("lstsq", "kl"):
        raise ValueError(f"unknown tuned-lens fit {method!r}; use lstsq or kl")
    keep = slice(None) if method == "lstsq" else slice(-1, None)
    captured = [residuals(model, ids, keep) for ids in inputs]
    h = torch.cat([states for states, _ in captured])
    translators = torch.nn.ModuleList(Translator(h.shape[-1]) for _ in range(h.shape[1]))
    translators = translators.to(next(model.parameters()).device)
    if method == "lstsq":
        _fit_lstsq(translators, h, ridge)
    else:
        finals = torch.stack([logits.log_softmax(-1) for _, logits in captured])
        _fit_kl(model, translators, h, finals, steps, lr, seed, progress)
    return translators.eval()


def _fit_lstsq(translators, h: torch.Tensor, ridge: float) -> None:
    """Translator l := h + A h + b with [A; b] the ridge solution of [h_l, 1] [A; b] = h_last - h_l (the penalty
    pulls it toward the identity, the logit lens; the last layer's is the identity exactly)."""
    x_last = h[:, -1].double()
    width = h.shape[-1]
    for layer, translator in enumerate(translators):
        own = h[:, layer].double()
        x = torch.cat([own, torch.ones(len(h), 1, dtype=torch.double)], dim=1)
        gram = x.T @ x + ridge * float(x.pow(2).mean()) * len(x) * torch.eye(width + 1, dtype=torch.double)
        w = torch.linalg.solve(gram, x.T @ (x_last - own))
        with torch.no_grad():
            translator.linear.weight.copy_(w[:width].T.float())
            translator.linear.bias.copy_(w[width].float())


def _fit_kl(model, translators, h: torch.Tensor, target: torch.Tensor, steps: int, lr: float, seed: int,
            progress: bool) -> None:
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(translators.parameters(), lr=lr)
    weight, norm = model.get_output_embeddings().weight.detach().float(), final_norm(model)
    for _ in tqdm(range(steps), desc="tuned lens", disable=not progress, leave=False):
        optimizer.zero_grad()
        loss = sum(_kl(target, norm(translators[i](h[:, i])) @ weight.T) for i in range(len(translators)))
        (loss / len(translators)).backward()
        optimizer.step()


def _kl(target_log_probs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    log_probs = logits.float().log_softmax(-1)
    return (target_log_probs.exp() * (target_log_probs - log_probs)).sum(-1).mean()


@torch.no_grad()
def lens_rows(model, points: Sequence[ReadPoint], lenses: dict | None = None) -> list[dict]:
    """Per read point, lens and layer: the right token's probability and rank. `lenses` maps a lens's name to its
    translators (None: the logit lens; default: the logit lens alone); each point's residuals are captured once
    for all of them."""
    rows = []
    for point in points:
        states = last_residuals(model, point.ids)
        for name, translators in (lenses or {"logit": None}).items():
            logits = lens_logits(model, states, translators)
            probs = logits.softmax(-1)[:, point.right]
            ranks = (logits > logits[:, [point.right]]).sum(-1)
            rows += [{"lens": name, "problem_id": point.problem_id, "kind": point.kind, "layer": layer,
                      "prob": float(probs[layer]), "rank": int(ranks[layer])} for layer in range(len(logits))]
    return rows


def run_lens(model_dirs: Sequence, data_dir, out, *, style: str = "theorem", kinds: Sequence[str] | None = None,
             limit: int = 64, tuned: str | None = "lstsq", tuned_steps: int = 200,
             tuned_prompts: int = 64, overwrite: bool = False,
             progress: bool = True):
    """Logit and tuned lens of every checkpoint on the test originals (first `limit`) and their perturbed
    versions: lens.parquet (one row per checkpoint, lens, problem and layer) and, per checkpoint, lens and kind,
    the first decodable layer in request.json. The tuned lens (`tuned`: lstsq | kl | None) is fitted on the
    first `tuned_prompts` training problems' read points."""
    import time
    from pathlib import Path

    import pandas as pd
    from tsft.models.placement import load_checkpoint
    from tsft.models.provenance import write_request
    from tsft.probes.capture import dataset_rows
    from tsft.tasks.dataset import load_dataset
    from tsft.tasks.io import atomic_file, check_writable, refuse_existing

    if style not in MARKERS:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(MARKERS)}")
    out = Path(out)
    check_writable(out)
    refuse_existing(out / "lens.parquet", overwrite)
    start, dataset = time.perf_counter(), load_dataset(data_dir)
    problems, meta = dataset_rows(dataset, "test", kinds, limit)
    frames, decodable = [], {}
    for model_dir in model_dirs:
        model, tokenizer, checkpoint = load_checkpoint(model_dir)
        points = [pt for p, kind in zip(problems, meta["kind"], strict=True)
                  if (pt := read_point(p, tokenizer, style, kind)) is not None]
        fitted = [pt.ids for p in dataset.train[:tuned_prompts] if (pt := read_point(p, tokenizer, style))]
        translators = fit_tuned_lens(model, fitted, tuned, tuned_steps, progress=progress) if tuned else None
        rows = lens_rows(model, points, {"logit": None} | ({"tuned": translators} if translators else {}))
        frame = pd.DataFrame(rows).assign(model=checkpoint.name, style=style)
        frames.append(frame)
        decodable[checkpoint.name] = {lens: {kind: decodable_layer(part, kind) for kind in part["kind"].unique()}
                                      for lens, part in frame.groupby("lens")}
    table = pd.concat(frames, ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "lens.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    write_request(out, {"kind": "lens", "data": str(data_dir), "style": style, "limit": limit, "tuned": tuned,
                        "tuned_steps": tuned_steps, "tuned_prompts": tuned_prompts, "decodable": decodable}, start)
    return table, decodable
