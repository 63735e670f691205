"""Scoring a sweep: the unpatched endpoints of every pair, the metric of patched runs, and tidy result rows.

Before any patch, each pair's clean and corrupt runs are scored once (`sweep_scores`): their last-position logits
(`endpoint_logits`, batched by length), the metric on each (logit difference right - wrong, probability, or KL
to the clean run; patching.metrics) and the normalisation every patched value is read on (0 = the corrupt run,
1 = the clean run). `result_rows` turns patched values into one tidy row per (pair, condition), the same
columns for exact patching, attribution patching and tracing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import Tensor
from tsft.patching.conditions import Condition, PatchRequest, batch_rows
from tsft.patching.metrics import metric, normalized
from tsft.patching.pairs import PatchPair


def endpoint_logits(engine, id_lists: list[tuple[int, ...]], memory_mb: int = 512, images=None) -> Tensor:
    """Unpatched last-position logits of each sequence (with its figure, `images[i]`, if any), batched by
    length: [n, vocab]."""
    images = images or [None] * len(id_lists)
    out: list[Tensor | None] = [None] * len(id_lists)
    by_length = defaultdict(list)
    for i, ids in enumerate(id_lists):
        by_length[len(ids)].append(i)
    for length, members in by_length.items():
        step = batch_rows(memory_mb, engine.model, length)
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            ids = torch.tensor([id_lists[i] for i in chunk])
            logits = engine.run(ids, {}, None, engine.inputs_for(ids, [images[i] for i in chunk])).cpu()
            for i, row in zip(chunk, logits, strict=True):
                out[i] = row
    return torch.stack(out)


@dataclass
class Scores:
    """Per-pair endpoint values of one sweep (clean run, corrupt run) and the tensors the metric needs."""

    right: Tensor
    wrong: Tensor
    clean_logits: Tensor
    clean: Tensor
    corrupt: Tensor

    def of(self, name: str, logits: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        """(metric, normalized metric) of patched logits for the pairs in `index`."""
        value = metric(name, logits, self.right[index], self.wrong[index], self.clean_logits[index])
        return value, self.normalize(value, index)

    def normalize(self, value: Tensor, index: Tensor) -> Tensor:
        return normalized(value, self.clean[index], self.corrupt[index])

    def unpatched(self, direction: str) -> Tensor:
        """The destination run's own metric per pair (what a patch that changes nothing scores)."""
        return self.clean if direction == "noise" else self.corrupt


def sweep_scores(pairs: list[PatchPair], request: PatchRequest, clean_engine, corrupt_engine) -> Scores:
    """Both endpoints of every pair, scored with the request's metric."""
    clean_logits = endpoint_logits(clean_engine, [p.clean_ids for p in pairs], request.memory_mb,
                                   [p.clean_image for p in pairs])
    corrupt_logits = endpoint_logits(corrupt_engine, [p.corrupt_ids for p in pairs], request.memory_mb,
                                     [p.corrupt_image for p in pairs])
    right = torch.tensor([p.right for p in pairs])
    wrong = torch.tensor([-1 if p.wrong is None else p.wrong for p in pairs])
    clean = metric(request.metric, clean_logits, right, wrong, clean_logits)
    corrupt = metric(request.metric, corrupt_logits, right, wrong, clean_logits)
    return Scores(right, wrong, clean_logits, clean, corrupt)


def result_rows(batch: list[Condition], pairs: list[PatchPair], value, norm, scores: Scores
                ) -> list[tuple[Condition, dict]]:
    """(condition, tidy row) per condition of `batch` with its patched `value` and normalized `norm`."""
    return [(c, {"pair_id": pairs[c.pair].pair_id, "pair_type": pairs[c.pair].kind, "layer": c.site.layer,
             "component": c.site.component, "position": c.label, "n_positions": len(c.positions),
             "value": float(v), "normalized": float(n), "clean": float(scores.clean[c.pair]),
             "corrupt": float(scores.corrupt[c.pair])})
            for c, v, n in zip(batch, value, norm, strict=True)]
