"""Ablations beside patching: zero, mean and resample ablation of any site, and faithfulness curves.

Activation patching asks what happens when a site of the clean run reads the corrupt run's value. An ablation
asks what happens when it reads something uninformative instead, and which "uninformative" is chosen changes
circuit scores (Miller et al. 2024), so all three are measured on the same sites, positions and pairs:

* `zero`     - the site reads 0;
* `mean`     - the site reads its mean activation over a reference set (the pairs' clean prompts, every position);
* `resample` - the site reads its activation on another problem's corrupt prompt of the same length (the
  chunk's rows rotated by one), so the value is on-distribution but carries another problem's content.

Each runs through the generic loop (`patching.activation.patch_sweep`, direction `noise`: the clean run
receives the source's values), with an `AblationEngine` whose `capture` returns the ablated values instead of
the corrupt run's; everything else (batching, prefixes, no-op detection, scoring) is the loop's, so the rows
have the same columns and the same 0 = corrupt / 1 = clean scale as exact patching (`method` says which).

A faithfulness curve ranks the sites by exact patching's effect, keeps the top k in the clean run and ablates
every other site at once (all positions), for each k: faithfulness(k) = (m_k - m_none) / (m_all - m_none),
where m_all is the clean model and m_none every site ablated. A localisation is faithful when a few sites
recover most of the behaviour under every ablation, not only under one.

`RandomDirectionEngine` is cross-checkpoint patching's null: instead of checkpoint A's activation, B's own plus a
random direction of the same norm as A - B, so "patching A's MLP output at layer 12 moves B toward A" can be read
against what a move of that size in a random direction does (Hase et al. 2023; Wang & Veitch 2025).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.metrics import metric
from tsft.patching.pairs import PatchPair
from tsft.patching.requests import ABLATIONS
from tsft.patching.scoring import endpoint_logits
from tsft.patching.sites import Site, width


class DelegatingEngine:
    """An engine that is another engine but for `capture` (the subclasses'): run, prefixes and extra inputs are
    the wrapped engine's, and so is what it supports."""

    def __init__(self, engine):
        self.engine, self.name, self.model = engine, engine.name, engine.model
        self.supports_prefix, self.supports_inputs = engine.supports_prefix, engine.supports_inputs

    def run(self, ids, replacements, past=None, inputs=None):
        return self.engine.run(ids, replacements, past, inputs)

    def prefix_cache(self, ids):
        return self.engine.prefix_cache(ids)

    def inputs_for(self, ids, images):
        return self.engine.inputs_for(ids, images)


class AblationEngine(DelegatingEngine):
    """An engine whose `capture` returns ablated values (see the module docstring)."""

    def __init__(self, engine, mode: str, means: dict[Site, Tensor] | None = None):
        if mode not in ABLATIONS:
            raise ValueError(f"unknown ablation {mode!r}; choose one of {', '.join(ABLATIONS)}")
        if mode == "mean" and not means:
            raise ValueError("mean ablation needs the reference means (site_means)")
        super().__init__(engine)
        self.mode, self.means = mode, means or {}

    def capture(self, ids: Tensor, sites: list[Site], inputs: dict | None = None) -> dict[Site, Tensor]:
        if self.mode == "resample":
            seen = self.engine.capture(ids, sites, inputs)
            return {site: value.roll(1, dims=0) for site, value in seen.items()}
        shape = (ids.shape[0], ids.shape[1])
        if self.mode == "zero":
            like = next(self.model.parameters())
            return {site: torch.zeros(*shape, width(self.model, site), dtype=like.dtype, device=like.device)
                    for site in sites}
        return {site: self.means[site].expand(*shape, -1).clone() for site in sites}


def site_means(engine, pairs: Sequence[PatchPair], sites: list[Site]) -> dict[Site, Tensor]:
    """Each site's mean activation over the pairs' clean prompts and all their positions."""
    totals: dict[Site, Tensor] = {}
    count = 0
    for pair in pairs:
        seen = engine.capture(torch.tensor([pair.clean_ids]), sites)
        for site, value in seen.items():
            total = value[0].double().sum(0)
            totals[site] = totals[site] + total if site in totals else total
        count += len(pair.clean_ids)
    return {site: (total / count).float() for site, total in totals.items()}


def ablation_sweep(engine, pairs: list[PatchPair], request: PatchRequest, modes: Sequence[str] = ABLATIONS,
                   progress: bool = False) -> list[dict]:
    """Rows of every ablation of every (site, positions) condition, `method` = the ablation's name, on the
    patching scale (0 = corrupt run, 1 = clean run)."""
    from dataclasses import replace

    ablating = replace(request, direction="noise")
    means = site_means(engine, pairs, ablating.sites(engine.model)) if "mean" in modes else None
    rows = []
    for mode in modes:
        ablated = AblationEngine(engine, mode, means)
        for row in patch_sweep(ablated, pairs, ablating, progress=progress, clean_engine=engine):
            rows.append({**row, "method": mode})
    return rows


def _all_positions(sites: list[Site], keep: set[Site], values: dict[Site, Tensor], rows: int, length: int) -> dict:
    mask = torch.ones(rows, length, dtype=torch.bool)
    return {site: (mask, values[site]) for site in sites if site not in keep}


def faithfulness_curve(engine, pairs: list[PatchPair], ranked: Sequence[Site], ks: Sequence[int], mode: str,
                       request: PatchRequest) -> list[dict]:
    """Per k: the clean run with every ranked site but the top k ablated at all positions; faithfulness on the
    0 = all ablated, 1 = the clean model scale (mean over pairs of the metric, then normalised)."""
    return faithfulness_curves(engine, pairs, {"ranked": ranked}, {"ranked": ks}, mode, request)["ranked"]


def faithfulness_curves(engine, pairs: list[PatchPair], rankings: dict[str, Sequence[Site]],
                        ks: dict[str, Sequence[int]], mode: str, request: PatchRequest) -> dict[str, list[dict]]:
    """`faithfulness_curve` of several orderings at once: the ablated values, the clean logits and the two end
    points (every site kept, none kept) depend only on which sites are ranked, so they are computed once per set
    of sites, however many orderings of it are scored (MIB's random orderings, each method's ranking)."""
    by_set: dict[frozenset, list[str]] = {}
    for name, order in rankings.items():
        by_set.setdefault(frozenset(order), []).append(name)
    curves = {}
    for names in by_set.values():
        score = _kept_scorer(engine, pairs, list(rankings[names[0]]), mode, request)
        full, none = score(set(rankings[names[0]])), score(set())
        for name in names:
            order = list(rankings[name])
            curves[name] = []
            for k in ks[name]:
                kept = score(set(order[:k]))
                curves[name].append({"k": k, "ablation": mode, "value": kept, "full": full, "none": none,
                                     "faithfulness": (kept - none) / (full - none) if full != none else float("nan")})
    return curves


def _kept_scorer(engine, pairs: list[PatchPair], sites: list[Site], mode: str, request: PatchRequest):
    """score(keep): the mean metric over pairs of the clean run with every site of `sites` not in `keep` ablated
    (all positions)."""
    means = site_means(engine, pairs, sites) if mode == "mean" else None
    ablated = AblationEngine(engine, mode, means)
    right = torch.tensor([p.right for p in pairs])
    wrong = torch.tensor([-1 if p.wrong is None else p.wrong for p in pairs])
    clean_logits = endpoint_logits(engine, [p.clean_ids for p in pairs], request.memory_mb)

    # per pair, the ablated values once (they do not depend on which sites are kept): two rows, the clean prompt
    # and its corrupt one when of the same length, so resample reads the corrupt prompt's values into the clean run
    prompts, sources = [], []
    for pair in pairs:
        other = pair.corrupt_ids if len(pair.corrupt_ids) == len(pair.clean_ids) else pair.clean_ids
        ids = torch.tensor([pair.clean_ids, other])
        prompts.append(ids[:1])
        sources.append({site: value[:1] for site, value in ablated.capture(ids, sites).items()})

    def score(keep: set[Site]) -> float:
        values = []
        for i, (ids, source) in enumerate(zip(prompts, sources, strict=True)):
            logits = engine.run(ids, _all_positions(sites, keep, source, 1, ids.shape[1])).cpu()
            values.append(metric(request.metric, logits, right[i:i + 1], wrong[i:i + 1], clean_logits[i:i + 1]))
        return float(torch.cat(values).mean())

    return score


def ranked_sites(exact) -> list[Site]:
    """Sites by the size of their exact patching effect (largest |mean normalized| over positions first)."""
    effect = exact.groupby(["layer", "component", "position"])["normalized"].mean().abs()
    best = effect.groupby(level=["layer", "component"]).max().sort_values(ascending=False)
    return [Site(int(layer), component) for layer, component in best.index]


def faithfulness_table(engine, pairs: list[PatchPair], exact, modes: Sequence[str], ks: Sequence[int],
                       request: PatchRequest):
    """The faithfulness curve of the top-k sites by exact patching, under each ablation (one row per mode, k)."""
    import pandas as pd

    ranked = ranked_sites(exact)
    return pd.DataFrame([row for mode in modes
                         for row in faithfulness_curve(engine, pairs, ranked, [k for k in ks if k <= len(ranked)],
                                                       mode, request)])


class RandomDirectionEngine(DelegatingEngine):
    """The random-direction control of cross-checkpoint patching: `capture` returns the destination checkpoint's
    own activation plus a seeded random direction of the same norm as (source - destination) at every position,
    so a site's effect can be read against moves of the same size in directions nobody chose."""

    def __init__(self, source, destination, seed: int = 0):
        super().__init__(source)
        self.destination, self.seed = destination, seed

    def capture(self, ids: Tensor, sites: list[Site], inputs: dict | None = None) -> dict[Site, Tensor]:
        source = self.engine.capture(ids, sites, inputs)
        dest = self.destination.capture(ids, sites, inputs)
        generator = torch.Generator().manual_seed(self.seed)
        out = {}
        for site in sorted(sites, key=lambda s: s.order):
            gap = (source[site] - dest[site]).float()
            noise = torch.randn(gap.shape, generator=generator).to(gap)
            scale = gap.norm(dim=-1, keepdim=True) / noise.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            out[site] = (dest[site].float() + noise * scale).to(dest[site].dtype)
        return out

