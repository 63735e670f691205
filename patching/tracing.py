"""Noise-corruption causal tracing (Meng et al. 2022, ROME) for problems without a natural minimal pair.

The clean run is the model on the prompt. The corrupted run adds Gaussian noise to the input
embeddings of the subject tokens (the whole problem text, the entity name, or given words) with
standard deviation `noise_scale` x the std of the embedding matrix (ROME uses 3x), so the model
can no longer read them. A restoration run is the corrupted run with one site (or a window of
`window` layers centred on it, ROME's 10-layer windows for MLPs) set back to its clean
activation at some positions. The metric is the probability of the clean continuation's next
token (`right`), averaged over `samples` noise draws (seeded); normalized = (restored - corrupted)
/ (clean - corrupted), so 1 = restoring this site alone brings back the clean prediction.

Runs on any engine (the noise is an `embed` replacement), batched like exact patching.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tsft.models.prompts import encode_target
from tsft.models.targets import render_target
from tsft.patching.conditions import batch_rows, position_groups
from tsft.patching.metrics import normalized
from tsft.patching.pairs import label_positions, prompt_side
from tsft.patching.sites import EMBED, Site, n_layers, sites
from tsft.tasks.schema import Problem

SUBJECTS = ("problem", "name")
TRACE_COMPONENTS = ("resid_post", "mlp_out", "attn_out")


@dataclass(frozen=True)
class TracePrompt:
    prompt_id: str
    ids: tuple[int, ...]
    right: int
    noised: tuple[int, ...]
    spans: dict[str, tuple[int, ...]]


def subject_ranges(problem: Problem, subject: str) -> list[tuple[int, int]]:
    """Character ranges of the subject in the problem text: problem | name | words:w1+w2 (a comma works too where
    the spec is not inside a comma-separated list)."""
    text = problem.text
    if subject == "problem":
        return [(0, len(text))]
    if subject == "name":
        words = [problem.surface.get("name")] if problem.surface.get("name") else []
    elif subject.startswith("words:"):
        words = [w for w in re.split(r"[+,]", subject[len("words:"):]) if w]
    else:
        raise ValueError(f"unknown subject {subject!r}; use problem, name or words:<w1>+<w2>")
    return [m.span() for w in words for m in re.finditer(rf"\b{re.escape(w)}\b", text)]


def trace_prompts(problems: Sequence[Problem], tokenizer, target: str = "answer", subject: str = "problem"
                  ) -> tuple[list[TracePrompt], list[tuple[str, str]]]:
    """Prompts with their noised positions and right token; plus (problem id, reason) for skipped ones."""
    out, skipped = [], []
    for problem in problems:
        ids, offsets, (start, end) = prompt_side(problem, tokenizer)
        ranges = [(start + a, start + b) for a, b in subject_ranges(problem, subject)]
        noised = {p for p, (a, b) in enumerate(offsets) if any(a < hi and b > lo for lo, hi in ranges)}
        noised.discard(len(ids) - 1)
        if not noised:
            skipped.append((problem.id, f"subject {subject!r} does not occur in the prompt"))
            continue
        right = encode_target(tokenizer, render_target(problem, target))[0]
        spans = label_positions(len(ids), noised, offsets, (start, end), len(ids), diff_name="subject")
        out.append(TracePrompt(problem.id, tuple(ids), right, tuple(sorted(noised)), spans))
    return out, skipped


def _window(layer: int, n_layers: int, window: int) -> range:
    low = max(0, min(layer - window // 2, n_layers - window))
    return range(low, min(n_layers, low + window))


def causal_trace(engine, prompts: Sequence[TracePrompt], components: Sequence[str] = TRACE_COMPONENTS,
                 positions: str = "spans", window: int = 1, samples: int = 5, noise_scale: float = 3.0,
                 seed: int = 0, memory_mb: int = 512) -> list[dict]:
    """Restoration effect of every (layer window, component, positions) on every prompt."""
    model = engine.model
    depth = n_layers(model)
    sigma = noise_scale * float(model.get_input_embeddings().weight.detach().float().std())
    embed = Site(-1, EMBED)
    site_list = sites(model, tuple(components))
    rows = []
    for index, prompt in enumerate(prompts):
        length, noised = len(prompt.ids), list(prompt.noised)
        clean = engine.capture(torch.tensor([prompt.ids]), [embed, *site_list])
        generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
        noise = torch.randn(samples, len(noised), clean[embed].shape[-1], generator=generator) * sigma
        conditions = [None] + [(site, label, group) for site in site_list
                               for label, group in position_groups(length, prompt.spans, positions)]
        probs = _run_conditions(engine, prompt, conditions, clean, noise, depth, window, memory_mb)
        clean_p, corrupt_p = probs[0], probs[1]
        for cond, value in zip(conditions[1:], probs[2:], strict=True):
            site, label, group = cond
            rows.append({"pair_id": prompt.prompt_id, "pair_type": "noise", "layer": site.layer,
                         "component": site.component, "position": label, "n_positions": len(group),
                         "value": float(value), "normalized": float(normalized(value, clean_p, corrupt_p)),
                         "clean": float(clean_p), "corrupt": float(corrupt_p)})
    return rows


def _run_conditions(engine, prompt, conditions, clean, noise, n_layers, window, memory_mb) -> torch.Tensor:
    """[clean prob, corrupted prob, restored prob per condition] (noisy ones averaged over samples)."""
    samples, length = noise.shape[0], len(prompt.ids)
    embed = Site(-1, EMBED)
    jobs = [(c, s) for c in range(len(conditions)) for s in range(samples)]
    step = batch_rows(memory_mb, engine.model, length)
    right = prompt.right
    clean_prob = torch.softmax(engine.run(torch.tensor([prompt.ids]), {}).float(), -1)[0, right]
    totals = torch.zeros(len(conditions))
    for first in range(0, len(jobs), step):
        batch = jobs[first:first + step]
        replacements = {}
        mask = torch.zeros(len(batch), length, dtype=torch.bool)
        mask[:, prompt.noised] = True
        values = clean[embed].expand(len(batch), -1, -1).clone()
        for row, (_, s) in enumerate(batch):
            values[row, list(prompt.noised)] += noise[s].to(values)
        replacements[embed] = (mask, values)
        for row, (c, _) in enumerate(batch):
            if conditions[c] is None:
                continue
            site, _, group = conditions[c]
            for layer in _window(site.layer, n_layers, window):
                target = Site(layer, site.component)
                if target not in replacements:
                    replacements[target] = (torch.zeros(len(batch), length, dtype=torch.bool),
                                            clean[target].expand(len(batch), -1, -1))
                replacements[target][0][row, list(group)] = True
        probs = torch.softmax(engine.run(torch.tensor([prompt.ids] * len(batch)), replacements).float(), -1)[:, right]
        for (c, _), p in zip(batch, probs.cpu(), strict=True):
            totals[c] += p
    return torch.cat([clean_prob.cpu()[None], totals / samples])
