"""Activation datasets: many problems through a model, activations at sites and positions, cached.

`activation_dataset(model, tokenizer, problems, rows, sites, positions, cache)` returns an
`ActivationStore` holding one feature per (site, position) for every row, capturing only what the
cache lacks. Problems run in batches sorted by length, right-padded: under a causal mask a real
token never attends to the padding after it, so no attention mask is needed and every real
position's activation is exactly that of the unpadded prompt. Activations are read through
patching's capture primitive (`HooksEngine.capture` -> `patching.hooks.intervene`); a span's
feature is the mean over its positions. One shard is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tsft.models.evaluate import eval_splits
from tsft.models.images import image_inputs
from tsft.patching.engines import HooksEngine
from tsft.patching.sites import Site, check_site, parse_site
from tsft.probes.labels import problem_fields
from tsft.probes.positions import check_position, prompt_positions
from tsft.probes.store import ActivationStore, model_fingerprint, rows_fingerprint, tokenizer_fingerprint
from tsft.tasks.schema import Problem


def feature_name(site: Site | str, position: str) -> str:
    return f"{parse_site(site).name}@{position}"


def split_feature(feature: str) -> tuple[Site, str]:
    site, _, position = feature.partition("@")
    return parse_site(site), position


def dataset_rows(dataset, split: str = "test", kinds: Sequence[str] | None = None, limit: int | None = None):
    """(problems, metadata frame): the split's problems, then (test split) each perturbed kind's versions of
    them; `kinds` None = every kind, () = none."""
    import pandas as pd

    if split != "test":
        problems = dataset.split(split)[:limit]
        meta = [{"problem_id": p.id, "original_id": p.id, "kind": "original"} for p in problems]
    else:
        names = None if kinds is None else ("original", *kinds)
        problems, meta = [], []
        for _, kind, chosen, original_ids in eval_splits(dataset, names, limit):
            problems += chosen
            meta += [{"problem_id": p.id, "original_id": o, "kind": kind} for p, o in zip(chosen, original_ids,
                                                                                      strict=True)]
    rows = pd.DataFrame([{**m, **problem_fields(p)} for m, p in zip(meta, problems, strict=True)])
    return problems, rows


def cache_identity(model, tokenizer, problems: Sequence[Problem], rows, model_name: str = "") -> dict:
    """What a cache was captured from: model, tokenizer and problem-list fingerprints, with readable sources."""
    return {"model": model_fingerprint(model), "model_source": model_name,
            "tokenizer": tokenizer_fingerprint(tokenizer), "tokenizer_source": model_name,
            "rows": rows_fingerprint(rows, [p.text for p in problems]), "rows_source": f"{len(rows)} rows"}


def default_cache(root, identity: dict) -> Path:
    """`root/<model name>-<model hash>-<rows hash>`: one folder per model and problem list."""
    return Path(root) / f"{Path(identity['model_source']).name}-{identity['model'][:8]}-{identity['rows'][:8]}"


def open_cache(folder, model, tokenizer, problems: Sequence[Problem], rows, model_name: str = "",
               shard_rows: int = 2048, identity: dict | None = None) -> ActivationStore:
    """Open (checking what it was captured from) or create the cache folder; `identity` if already computed."""
    identity = identity or cache_identity(model, tokenizer, problems, rows, model_name)
    return ActivationStore.open(folder, identity, rows, shard_rows)


def _batch_values(engine, tokenizer, batch: Sequence[Problem], sites: list[Site], positions: Sequence[str]):
    import torch

    prepared = [prompt_positions(p, tokenizer, tuple(positions)) for p in batch]
    width = max(len(ids) for ids, _ in prepared)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    for r, (row_ids, _) in enumerate(prepared):
        ids[r, :len(row_ids)] = torch.tensor(row_ids)
    captured = engine.capture(ids, sites, image_inputs(tokenizer, ids, [p.image for p in batch]))
    out = {}
    for site in sites:
        acts = captured[site].float().cpu()
        for position in positions:
            values = np.full((len(batch), acts.shape[-1]), np.nan, dtype=np.float32)
            for r, (_, spans) in enumerate(prepared):
                if spans[position]:
                    values[r] = acts[r, spans[position]].mean(0).numpy()
            out[feature_name(site, position)] = values
    return out


def capture(store: ActivationStore, model, tokenizer, problems: Sequence[Problem], features: Sequence[str],
            batch_size: int = 32, progress: bool = True) -> None:
    """Capture the store's missing `features` for every row, shard by shard (resuming after a kill)."""
    from tqdm.auto import tqdm

    missing = store.missing(features)
    if not missing:
        return
    engine = HooksEngine(model)
    parsed = [split_feature(f) for f in missing]
    sites = sorted({s for s, _ in parsed}, key=lambda s: s.order)
    positions = list(dict.fromkeys(p for _, p in parsed))
    first = min(store.done(f) for f in missing)
    rows_left = sum(len(store.shard_range(s)) for s in range(first, store.n_shards))
    bar = tqdm(total=rows_left, desc="capture", unit="problem", disable=not progress, leave=False)
    for shard in range(first, store.n_shards):
        span = store.shard_range(shard)
        order = sorted(span, key=lambda i: len(problems[i].text))
        chunks: dict[str, list] = {f: [] for f in missing}
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            values = _batch_values(engine, tokenizer, [problems[i] for i in rows], sites, positions)
            for feature in missing:
                chunks[feature].append(values[feature])
            bar.update(len(rows))
        inverse = np.argsort(np.asarray(order) - span.start)
        store.write_shard(shard, {f: np.concatenate(chunks[f])[inverse] for f in missing})
    bar.close()


def activation_dataset(model, tokenizer, problems: Sequence[Problem], rows, sites: Sequence[str | Site],
                       positions: Sequence[str], cache, model_name: str = "", batch_size: int = 32,
                       shard_rows: int = 2048, progress: bool = True, identity: dict | None = None
                       ) -> tuple[ActivationStore, list[str]]:
    """(store, feature names) with every (site, position) captured for every row; reuses what is cached."""
    checked = [check_site(model, parse_site(s)) for s in sites]
    features = [feature_name(site, check_position(p)) for site in checked for p in positions]
    store = open_cache(cache, model, tokenizer, problems, rows, model_name, shard_rows, identity)
    capture(store, model, tokenizer, problems, features, batch_size, progress)
    return store, features
