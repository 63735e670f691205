"""Activation patching: one generic, batched loop over sites x positions for many pairs.

The clean run is the model on the clean prompt (e.g. the original problem), the corrupt run the
model on the corrupt prompt (e.g. the same surface asking for the sibling theorem). A patch
replaces the activation at one site (layer x component) and some positions of one run by the
other run's activation there:

* `denoise` - clean activations into the corrupt run: which sites suffice to restore the clean
  behaviour (normalized metric near 1 = this site carries what differs);
* `noise`   - corrupt activations into the clean run: which sites are necessary (near 0).

Positions are chosen by `positions`: `each` (every position alone), `spans` (each named span of
`patching.pairs.SPANS` as a whole: the cue, the rest of the problem, the template, the target
prefix, the last token), `last`, or `all` (every position at once).

Batching is the speed lever: the source run's activations at every site are captured in one
forward per chunk of pairs, then each (pair, site, positions) condition is one row of a stacked
batch of destination runs, split into micro-batches under `memory_mb`. The loop knows nothing of
components; the engine sets a site (`patching.engines`). Rows come back tidy, one per pair x
condition (see `patching.results` for the summary).
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor
from tsft.patching.conditions import Condition, PatchRequest, batch_rows, length_groups, pair_conditions, row_bytes
from tsft.patching.pairs import PatchPair
from tsft.patching.scoring import result_rows, sweep_scores
from tsft.patching.sites import Site, n_layers, width

START_BUCKETS = 8
"""Rows restart from at most this many positions per chunk: fewer, larger forwards (each forward
has a fixed cost) at the price of re-running a few positions before each row's first patch."""


def _replacements(batch: list[Condition], sides: dict, source: dict[Site, Tensor], chunk_row: dict[int, int],
                  length: int, start: int) -> dict[Site, tuple[Tensor, Tensor]]:
    """Masks and values for the rows of one micro-batch, over destination positions start..length-1."""
    out = {}
    for site in {c.site for c in batch}:
        acts = source[site]
        mask = torch.zeros(len(batch), length - start, dtype=torch.bool)
        values = torch.zeros(len(batch), length - start, acts.shape[-1], dtype=acts.dtype, device=acts.device)
        for row, cond in enumerate(batch):
            if cond.site != site:
                continue
            mapping = sides[cond.pair][3]
            shifted = [p - start for p in cond.positions]
            mask[row, shifted] = True
            values[row, shifted] = acts[chunk_row[cond.pair], [mapping[p] for p in cond.positions]]
        out[site] = (mask, values)
    return out


def _unchanged(source: dict[Site, Tensor], dest: dict[Site, Tensor], mappings: list[list[int]]
               ) -> dict[Site, Tensor]:
    """{site: [pair, position] True where the value patched in equals the destination's own bit for bit}."""
    out = {}
    for site, dest_acts in dest.items():
        mapped = torch.tensor(mappings, device=dest_acts.device)
        index = mapped.clamp(min=0)[..., None].expand(-1, -1, dest_acts.shape[-1])
        out[site] = ((source[site].gather(1, index) == dest_acts).all(-1) & (mapped >= 0)).cpu()
    return out


def cannot_reach_last(cond: Condition, length: int, n_layers: int) -> bool:
    """True when the patch cannot change the last position's logits: a last-layer site (other than its
    input) at earlier positions only feeds later layers' attention, and there are none. Exact, not a guess."""
    return (cond.site.layer == n_layers - 1 and cond.site.component != "resid_pre"
            and max(cond.positions) < length - 1)


def patch_sweep(engine, pairs: list[PatchPair], request: PatchRequest, progress: bool = False,
                clean_engine=None) -> list[dict]:
    """Patch every condition of every pair; one dict per (pair, site, positions), in request order.

    `clean_engine` runs the clean side when it is another model (cross-checkpoint patching: the
    clean run is checkpoint A, the corrupt run checkpoint B, often on the same prompt); by default
    both sides run on `engine`.
    """
    from tqdm.auto import tqdm

    request.check()
    clean_engine = clean_engine or engine
    site_list = request.sites(engine.model)
    scores = sweep_scores(pairs, request, clean_engine, engine)
    source_engine, dest_engine = (clean_engine, engine) if request.direction == "denoise" else (engine, clean_engine)
    conditions = {i: pair_conditions(i, pairs[i], site_list, request) for i in range(len(pairs))}
    bar = tqdm(total=sum(map(len, conditions.values())), desc="patching", unit="patch", disable=not progress)
    rows = []
    for (length, source_length), members in length_groups(pairs, request.direction).items():
        capture_bytes = 4 * source_length * sum(width(engine.model, s) for s in site_list)
        per_chunk = max(1, (request.memory_mb << 20) // (capture_bytes + row_bytes(engine.model, length)))
        for first in range(0, len(members), per_chunk):
            chunk = members[first:first + per_chunk]
            todo = [c for i in chunk for c in conditions[i]]
            rows += _patch_chunk(source_engine, dest_engine, pairs, chunk, todo, length, site_list, request, scores)
            bar.update(len(todo))
    bar.close()
    rank = {cond: k for k, cond in enumerate(c for i in range(len(pairs)) for c in conditions[i])}
    return [row for _, row in sorted(rows, key=lambda item: rank[item[0]])]


def _patch_chunk(source_engine, dest_engine, pairs, chunk, todo, length, site_list, request, scores) -> list:
    """Run the conditions of one chunk of same-length pairs.

    Two kinds of patch are exact no-ops and are not run (their value is the destination run's): a
    patch whose values equal the destination's own bit for bit (a minimal pair's shared prefix, where
    both runs compute the same thing) and a patch that cannot reach the last position.
    Positions before a patch are unchanged (causal attention), so with an engine that can reuse a
    prefix cache the rows patched from position s run only tokens s.. on top of the destination
    run's cached keys and values (s rounded down to one of START_BUCKETS starts). Pairs with figures
    (vision models) run whole sequences with their figures' inputs (the engine builds them).
    """
    sides = {i: pairs[i].sides(request.direction) for i in chunk}
    dest_images, source_images = zip(*(pairs[i].images(request.direction) for i in chunk), strict=True)
    chunk_row = {i: r for r, i in enumerate(chunk)}
    dest_ids, source_ids = torch.tensor([sides[i][0] for i in chunk]), torch.tensor([sides[i][1] for i in chunk])
    source = source_engine.capture(source_ids, site_list, source_engine.inputs_for(source_ids, source_images))
    dest_inputs = dest_engine.inputs_for(dest_ids, dest_images)
    same = _unchanged(source, dest_engine.capture(dest_ids, site_list, dest_inputs), [sides[i][3] for i in chunk])
    depth = n_layers(dest_engine.model)
    noop = [cannot_reach_last(c, length, depth) or bool(same[c.site][chunk_row[c.pair], list(c.positions)].all())
            for c in todo]
    skipped = [c for c, skip in zip(todo, noop, strict=True) if skip]
    index = torch.tensor([c.pair for c in skipped], dtype=torch.long)
    unpatched = scores.unpatched(request.direction)[index]
    rows = result_rows(skipped, pairs, unpatched, scores.normalize(unpatched, index), scores)
    todo = [c for c, skip in zip(todo, noop, strict=True) if not skip]
    cache = dest_engine.prefix_cache(dest_ids) if dest_engine.supports_prefix and not dest_inputs else None
    bucket = -(-length // START_BUCKETS)
    start_of = (lambda c: min(c.positions) // bucket * bucket) if cache is not None else (lambda c: 0)
    by_start = defaultdict(list)
    for cond in sorted(todo, key=lambda c: (c.site.order, c.pair)):
        by_start[start_of(cond)].append(cond)
    for start, group in by_start.items():
        step = batch_rows(request.memory_mb, dest_engine.model, length - start)
        for first in range(0, len(group), step):
            batch = group[first:first + step]
            members = torch.tensor([chunk_row[c.pair] for c in batch])
            past = [(k[members, :, :start], v[members, :, :start]) for k, v in cache] if start else None
            replacements = _replacements(batch, sides, source, chunk_row, length, start)
            inputs = dest_engine.inputs_for(dest_ids[members], [dest_images[m] for m in members])
            logits = dest_engine.run(dest_ids[members, start:], replacements, past, inputs).cpu()
            value, norm = scores.of(request.metric, logits, torch.tensor([c.pair for c in batch]))
            rows += result_rows(batch, pairs, value, norm, scores)
    return rows
