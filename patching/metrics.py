"""Patching metrics, read from next-token logits at the last position, and their normalization.

* `logit_diff` - logit[right] - logit[wrong]: right is the clean run's continuation, wrong the
  corrupt run's (e.g. the theorem's name vs the swapped theorem's, or the two answers' digits);
* `prob`       - softmax probability of the right token;
* `kl`         - KL(clean distribution || patched distribution), 0 on the clean run.

Normalized: (value - corrupt) / (clean - corrupt), where clean and corrupt are the metric on the
unpatched clean and corrupt runs of the same pair. So 0 = the corrupt run, 1 = the clean run, in
both directions: a denoising patch (clean into corrupt) that restores the behaviour scores near 1;
a noising patch (corrupt into clean) that destroys it scores near 0. For KL this is
1 - KL(patched) / KL(corrupt). A pair whose clean and corrupt runs agree on the metric (gap below
`MIN_GAP`) has no normalized value (NaN) rather than a huge one.
"""

from __future__ import annotations

import torch
from torch import Tensor

METRICS = ("logit_diff", "prob", "kl")
MIN_GAP = 1e-6


def check_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
    return name


def metric(name: str, logits: Tensor, right: Tensor, wrong: Tensor | None, clean_logits: Tensor) -> Tensor:
    """The metric per row. logits, clean_logits: [rows, vocab]; right, wrong: [rows] token ids."""
    logits = logits.float()
    if name == "logit_diff":
        if wrong is None or bool((wrong < 0).any()):
            raise ValueError("logit_diff needs a wrong token for every pair (pairs whose targets agree have none: "
                             "use the prob or kl metric)")
        return logits.gather(1, right[:, None])[:, 0] - logits.gather(1, wrong[:, None])[:, 0]
    if name == "prob":
        return torch.softmax(logits, dim=-1).gather(1, right[:, None])[:, 0]
    if name == "kl":
        clean = torch.log_softmax(clean_logits.float(), dim=-1)
        return (clean.exp() * (clean - torch.log_softmax(logits, dim=-1))).sum(-1)
    raise ValueError(check_metric(name))


def normalized(value: Tensor, clean: Tensor, corrupt: Tensor) -> Tensor:
    """(value - corrupt) / (clean - corrupt); NaN where |clean - corrupt| < MIN_GAP."""
    gap = clean - corrupt
    out = (value - corrupt) / gap
    return torch.where(gap.abs() < MIN_GAP, torch.full_like(out, float("nan")), out)
