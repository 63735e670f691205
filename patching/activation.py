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
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from patching.metrics import check_metric, metric, normalized
from patching.pairs import PatchPair
from patching.sites import COMPONENTS, Site, n_layers, sites, width

POSITIONS = ("each", "spans", "last", "all")
START_BUCKETS = 8
"""Rows restart from at most this many positions per chunk: fewer, larger forwards (each forward
has a fixed cost) at the price of re-running a few positions before each row's first patch."""


@dataclass(frozen=True)
class PatchRequest:
    """What to patch and how to score it (recorded next to every result table)."""

    components: tuple[str, ...] = ("resid_pre", "attn_out", "mlp_out")
    """Layer components to patch (any of patching.sites.COMPONENTS)."""
    layers: tuple[int, ...] | None = None
    """Layers to patch; None = every layer."""
    positions: str = "spans"
    """each | spans | last | all."""
    direction: str = "denoise"
    """denoise (clean into corrupt) or noise (corrupt into clean)."""
    metric: str = "logit_diff"
    """logit_diff | prob | kl (patching.metrics)."""
    memory_mb: int = 512
    """Budget for one stacked forward (activations + replacement values); sets the micro-batch size."""

    def check(self) -> PatchRequest:
        check_metric(self.metric)
        if self.positions not in POSITIONS:
            raise ValueError(f"unknown positions {self.positions!r}; choose one of {', '.join(POSITIONS)}")
        if self.direction not in ("denoise", "noise"):
            raise ValueError(f"unknown direction {self.direction!r}; use denoise or noise")
        unknown = set(self.components) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)}; known: {', '.join(COMPONENTS)}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def sites(self, model) -> list[Site]:
        """The requested sites of `model`, in forward order."""
        return sites(model, self.components, list(self.layers) if self.layers is not None else None)


@dataclass(frozen=True)
class Condition:
    pair: int
    site: Site
    label: str
    positions: tuple[int, ...]


def position_groups(length: int, spans: dict[str, tuple[int, ...]], mode: str) -> list[tuple[str, tuple[int, ...]]]:
    """(label, destination positions) for each condition of one pair."""
    if mode == "each":
        return [(str(p), (p,)) for p in range(length)]
    if mode == "last":
        return [("last", (length - 1,))]
    if mode == "all":
        return [("all", tuple(range(length)))]
    return [(name, positions) for name, positions in spans.items() if positions]


def length_groups(pairs: list[PatchPair], direction: str) -> dict[tuple[int, int], list[int]]:
    """Pair indices grouped by (destination length, source length): each group stacks without padding."""
    groups = defaultdict(list)
    for i, pair in enumerate(pairs):
        dest, source, _, _ = pair.sides(direction)
        groups[(len(dest), len(source))].append(i)
    return groups


def _conditions(index: int, pair: PatchPair, site_list: list[Site], request: PatchRequest) -> list[Condition]:
    dest, _, spans, mapping = pair.sides(request.direction)
    out = []
    for label, positions in position_groups(len(dest), spans, request.positions):
        if all(mapping[p] >= 0 for p in positions):
            out.extend(Condition(index, site, label, positions) for site in site_list)
    return out


def row_bytes(model, length: int, n_values: int = 1) -> int:
    """Rough bytes one destination row needs in a forward (activations kept + replacement values)."""
    c = model.config.get_text_config()
    per_position = c.num_hidden_layers * (6 * c.hidden_size + 3 * c.intermediate_size) + n_values * c.hidden_size
    return 4 * (length * per_position + c.vocab_size)


def _batch_rows(memory_mb: int, model, length: int) -> int:
    return max(1, (memory_mb << 20) // row_bytes(model, length))


def endpoint_logits(engine, id_lists: list[tuple[int, ...]], memory_mb: int = 512) -> Tensor:
    """Unpatched last-position logits of each sequence, batched by length: [n, vocab]."""
    out: list[Tensor | None] = [None] * len(id_lists)
    by_length = defaultdict(list)
    for i, ids in enumerate(id_lists):
        by_length[len(ids)].append(i)
    for length, members in by_length.items():
        step = _batch_rows(memory_mb, engine.model, length)
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            logits = engine.run(torch.tensor([id_lists[i] for i in chunk]), {}).cpu()
            for i, row in zip(chunk, logits, strict=True):
                out[i] = row
    return torch.stack(out)


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


@dataclass
class _Scores:
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


def _scores(pairs: list[PatchPair], request: PatchRequest, clean_engine, corrupt_engine) -> _Scores:
    clean_logits = endpoint_logits(clean_engine, [p.clean_ids for p in pairs], request.memory_mb)
    corrupt_logits = endpoint_logits(corrupt_engine, [p.corrupt_ids for p in pairs], request.memory_mb)
    right = torch.tensor([p.right for p in pairs])
    wrong = torch.tensor([-1 if p.wrong is None else p.wrong for p in pairs])
    clean = metric(request.metric, clean_logits, right, wrong, clean_logits)
    corrupt = metric(request.metric, corrupt_logits, right, wrong, clean_logits)
    return _Scores(right, wrong, clean_logits, clean, corrupt)


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
    scores = _scores(pairs, request, clean_engine, engine)
    source_engine, dest_engine = (clean_engine, engine) if request.direction == "denoise" else (engine, clean_engine)
    conditions = {i: _conditions(i, pairs[i], site_list, request) for i in range(len(pairs))}
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
    run's cached keys and values (s rounded down to one of START_BUCKETS starts).
    """
    sides = {i: pairs[i].sides(request.direction) for i in chunk}
    chunk_row = {i: r for r, i in enumerate(chunk)}
    dest_ids = torch.tensor([sides[i][0] for i in chunk])
    source = source_engine.capture(torch.tensor([sides[i][1] for i in chunk]), site_list)
    same = _unchanged(source, dest_engine.capture(dest_ids, site_list), [sides[i][3] for i in chunk])
    depth = n_layers(dest_engine.model)
    noop = [cannot_reach_last(c, length, depth) or bool(same[c.site][chunk_row[c.pair], list(c.positions)].all())
            for c in todo]
    skipped = [c for c, skip in zip(todo, noop, strict=True) if skip]
    index = torch.tensor([c.pair for c in skipped], dtype=torch.long)
    unpatched = scores.unpatched(request.direction)[index]
    rows = _rows(skipped, pairs, unpatched, scores.normalize(unpatched, index), scores)
    todo = [c for c, skip in zip(todo, noop, strict=True) if not skip]
    cache = dest_engine.prefix_cache(dest_ids) if hasattr(dest_engine, "prefix_cache") else None
    bucket = -(-length // START_BUCKETS)
    start_of = (lambda c: min(c.positions) // bucket * bucket) if cache is not None else (lambda c: 0)
    by_start = defaultdict(list)
    for cond in sorted(todo, key=lambda c: (c.site.order, c.pair)):
        by_start[start_of(cond)].append(cond)
    for start, group in by_start.items():
        step = _batch_rows(request.memory_mb, dest_engine.model, length - start)
        for first in range(0, len(group), step):
            batch = group[first:first + step]
            members = torch.tensor([chunk_row[c.pair] for c in batch])
            past = [(k[members, :, :start], v[members, :, :start]) for k, v in cache] if start else None
            replacements = _replacements(batch, sides, source, chunk_row, length, start)
            logits = dest_engine.run(dest_ids[members, start:], replacements, past).cpu()
            value, norm = scores.of(request.metric, logits, torch.tensor([c.pair for c in batch]))
            rows += _rows(batch, pairs, value, norm, scores)
    return rows


def _rows(batch, pairs, value, norm, scores) -> list[tuple[Condition, dict]]:
    return [(c, {"pair_id": pairs[c.pair].pair_id, "pair_type": pairs[c.pair].kind, "layer": c.site.layer,
             "component": c.site.component, "position": c.label, "n_positions": len(c.positions),
             "value": float(v), "normalized": float(n), "clean": float(scores.clean[c.pair]),
             "corrupt": float(scores.corrupt[c.pair])})
            for c, v, n in zip(batch, value, norm, strict=True)]
