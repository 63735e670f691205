"""Attribution patching: a first-order estimate of every patch from two forwards and one backward.

Exact patching runs one forward per (site, positions) condition. Attribution patching
(Nanda 2023; Syed et al. 2023) linearizes the metric m around the destination run: patching
site s at positions P changes m by about

    sum_{p in P} (a_source[s, p] - a_dest[s, p]) . dm/da_dest[s, p]

where a_source is the activation on the run patched from (clean, for denoising) and the gradient
is taken on the run patched into. One source forward (capture), one destination forward that
keeps the graph, and one backward give the estimate for every site and position at once. It is
exact for a metric linear in the site and degrades where the network is far from linear (e.g.
early residual positions that saturate attention); `compare_with_exact` reports how well it
tracks exact patching on the same sweep. The rows have the same columns as exact patching, with
`value` = the estimated patched metric and `normalized` on the same 0 = corrupt, 1 = clean scale.
"""

from __future__ import annotations

import torch

from patching.conditions import PatchRequest, batch_rows, length_groups, pair_conditions
from patching.engines import HooksEngine
from patching.hooks import intervene
from patching.metrics import metric
from patching.pairs import PatchPair
from patching.scoring import result_rows, sweep_scores
from patching.sites import EMBED, Site


def _gradients(model, ids, site_list, request, right, wrong, clean_logits):
    """Destination activations and d(metric)/d(activation) at every site: ({site: a}, {site: grad})."""
    leaf = {Site(-1, EMBED): lambda x: x.detach().requires_grad_(True)}
    with torch.enable_grad(), intervene(model, capture=site_list, edit=leaf, detach=False) as seen:
        logits = model(ids, logits_to_keep=1).logits[:, -1].float()
        total = metric(request.metric, logits, right, wrong, clean_logits).sum()
        acts = [seen[s.name] for s in site_list]
        grads = torch.autograd.grad(total, acts, allow_unused=True)
    return ({s: a.detach() for s, a in zip(site_list, acts, strict=True)},
            {s: (torch.zeros_like(a) if g is None else g) for s, a, g in zip(site_list, acts, grads, strict=True)})


def attribution_sweep(model, pairs: list[PatchPair], request: PatchRequest) -> list[dict]:
    """Estimated effect of every condition exact patching would run (same rows, method = attribution)."""
    request.check()
    engine = HooksEngine(model)
    site_list = request.sites(model)
    scores = sweep_scores(pairs, request, engine, engine)
    unpatched = scores.unpatched(request.direction)
    rows = []
    for (length, _), members in length_groups(pairs, request.direction).items():
        step = max(1, batch_rows(request.memory_mb, model, length) // 3)
        for first in range(0, len(members), step):
            chunk = members[first:first + step]
            for cond, estimate in _estimates(engine, pairs, chunk, site_list, request, scores):
                index = torch.tensor([cond.pair])
                value = unpatched[index] + estimate
                rows += result_rows([cond], pairs, value, scores.normalize(value, index), scores)
    return [row for _, row in rows]


def _estimates(engine, pairs, chunk, site_list, request, scores):
    """(condition, first-order change of the metric) for every condition of a chunk of same-length pairs."""
    device = engine.device
    sides = [pairs[i].sides(request.direction) for i in chunk]
    source = engine.capture(torch.tensor([s[1] for s in sides]), site_list)
    index = torch.tensor(chunk)
    acts, grads = _gradients(engine.model, torch.tensor([s[0] for s in sides], device=device), site_list, request,
                             scores.right[index].to(device), scores.wrong[index].to(device),
                             scores.clean_logits[index].to(device))
    for row, i in enumerate(chunk):
        mapping = sides[row][3]
        for cond in pair_conditions(i, pairs[i], site_list, request):
            dest_pos = list(cond.positions)
            delta = source[cond.site][row, [mapping[p] for p in dest_pos]] - acts[cond.site][row, dest_pos]
            yield cond, float((delta * grads[cond.site][row, dest_pos]).sum())


def compare_with_exact(exact, attribution, top: int = 10) -> dict:
    """How far the estimate can be trusted: Pearson correlation of normalized effects per (pair, layer, component,
    position), overall and per component; and the false negatives among the `top` sites (layer, component,
    position; mean |normalized| over pairs) of exact patching that the estimate's own top `top` misses."""
    keys = ["pair_id", "layer", "component", "position"]
    joined = exact[[*keys, "normalized"]].merge(attribution[[*keys, "normalized"]], on=keys,
                                               suffixes=("_exact", "_attribution")).dropna()
    out = {"n": len(joined), "pearson": float(joined["normalized_exact"].corr(joined["normalized_attribution"]))}
    for component, group in joined.groupby("component"):
        out[f"pearson_{component}"] = float(group["normalized_exact"].corr(group["normalized_attribution"]))
    sites = joined.groupby(keys[1:])[["normalized_exact", "normalized_attribution"]].mean().abs()
    k = min(top, len(sites))
    found = set(sites["normalized_exact"].nlargest(k).index)
    missed = found - set(sites["normalized_attribution"].nlargest(k).index)
    out |= {"top_k": k, "false_negatives": len(missed),
            "missed": ["blocks.{}.{}@{}".format(*site) for site in sorted(missed)]}
    return out
