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
`attribution_sweep(..., star=True)` runs AtP* instead (patching.atp_star: exact attention patterns where
residual patches saturate the softmax, GradDrop against cancellation), on the same rows.
"""

from __future__ import annotations

from collections import Counter

import torch
from tsft.patching import atp_star
from tsft.patching.conditions import PatchRequest, batch_rows, length_groups, pair_conditions
from tsft.patching.engines import HooksEngine
from tsft.patching.hooks import intervene
from tsft.patching.metrics import metric
from tsft.patching.pairs import PatchPair
from tsft.patching.scoring import result_rows, sweep_scores
from tsft.patching.sites import EMBED, Site


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


def attribution_sweep(model, pairs: list[PatchPair], request: PatchRequest, star: bool = False
                      ) -> tuple[list[dict], dict]:
    """Estimated effect of every condition exact patching would run (same rows), plain or AtP*
    (patching.atp_star: QK fix, and a `graddrop` column), and the passes it took ({kind: count}, beside
    `exact_forward`, the forwards exact patching would run)."""
    request.check()
    engine = HooksEngine(model)
    site_list = request.sites(model)
    scores = sweep_scores(pairs, request, engine, engine)
    unpatched = scores.unpatched(request.direction)
    passes = Counter(forward=2 * len(pairs))
    rows = []
    for (length, _), members in length_groups(pairs, request.direction).items():
        step = max(1, batch_rows(request.memory_mb, model, length) // (6 if star else 3))
        for first in range(0, len(members), step):
            chunk = members[first:first + step]
            found = (atp_star.estimates if star else _estimates)(engine, pairs, chunk, site_list, request, scores,
                                                                 passes)
            for cond, estimate, *magnitude in found:
                index = torch.tensor([cond.pair])
                value = unpatched[index] + estimate
                rows += [row | _graddrop(magnitude, scores, unpatched, index)
                         for _, row in result_rows([cond], pairs, value, scores.normalize(value, index), scores)]
                passes["exact_forward"] += 1
    return rows, dict(passes)


def _graddrop(magnitude: list[float], scores, unpatched, index) -> dict:
    """The GradDrop magnitude on the normalized scale (|change| / |clean - corrupt|), when there is one."""
    if not magnitude:
        return {}
    shift = scores.normalize(unpatched[index] + magnitude[0], index) - scores.normalize(unpatched[index], index)
    return {"graddrop": float(shift.abs())}


def _estimates(engine, pairs, chunk, site_list, request, scores, passes: Counter):
    """(condition, first-order change of the metric) for every condition of a chunk of same-length pairs."""
    passes.update(forward=2 * len(chunk), backward=len(chunk))
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


def compare_with_exact(exact, estimate, top: int = 10) -> dict:
    """How far an estimate can be trusted: Pearson correlation of normalized effects per (pair, layer, component,
    position), overall and per component; and the false negatives among the `top` sites (layer, component,
    position) of exact patching that the estimate's own top `top` misses, and how far down the estimate's ranking
    one must verify with exact patching to find all of them (`rank_to_find_top_k` of `sites`: near-tied exact
    effects make the top-k set, and so the false negatives, fragile; this rank is not). Sites rank by their mean
    effect over
    pairs (normalized, measured from the unpatched run: 0 for denoising, 1 for noising), in magnitude; an AtP*
    estimate ranks by max(|effect|, mean GradDrop magnitude)."""
    keys = ["pair_id", "layer", "component", "position"]
    extra = ["graddrop"] if "graddrop" in estimate.columns and estimate["graddrop"].notna().any() else []
    joined = exact[[*keys, "normalized"]].merge(estimate[[*keys, "normalized", *extra]], on=keys,
                                               suffixes=("_exact", "_attribution")).dropna()
    out = {"n": len(joined), "pearson": float(joined["normalized_exact"].corr(joined["normalized_attribution"]))}
    for component, group in joined.groupby("component"):
        out[f"pearson_{component}"] = float(group["normalized_exact"].corr(group["normalized_attribution"]))
    start = 1.0 if "direction" in exact.columns and (exact["direction"] == "noise").all() else 0.0
    sites = (joined.groupby(keys[1:])[["normalized_exact", "normalized_attribution"]].mean() - start).abs()
    if extra:
        graddrop = joined.groupby(keys[1:])["graddrop"].mean()
        sites["normalized_attribution"] = sites["normalized_attribution"].where(
            sites["normalized_attribution"] >= graddrop, graddrop)
    k = min(top, len(sites))
    found = set(sites["normalized_exact"].nlargest(k).index)
    missed = found - set(sites["normalized_attribution"].nlargest(k).index)
    rank = sites["normalized_attribution"].rank(ascending=False, method="max")
    out |= {"top_k": k, "false_negatives": len(missed),
            "missed": ["blocks.{}.{}@{}".format(*site) for site in sorted(missed)],
            "rank_to_find_top_k": int(rank[list(found)].max()) if k else 0, "sites": len(sites)}
    return out
