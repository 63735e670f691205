"""Experiments from folders: a checkpoint (HF folder) and a data folder in, a results folder out.

Each function loads what it needs (eager attention, so every engine sees the same numbers),
builds the pairs or prompts, runs, and writes `pairs.parquet`, `summary.parquet` and
`request.json` (the request, the inputs, pair counts and rejection reasons, versions, git commit,
seconds) atomically. The output folder is checked before any work, so nothing is computed only
to be refused. The `tsft patch` subcommands call these and print the summary.
"""

from __future__ import annotations

import time
from collections import Counter

from tsft.models.architectures import text_config
from tsft.models.cards import Checkpoint, ModelError
from tsft.models.evaluate import TARGET_NEW_TOKENS, eval_splits
from tsft.models.placement import Placement, load_checkpoint
from tsft.models.precision import compute
from tsft.models.provenance import save_tables
from tsft.patching.ablation import RandomDirectionEngine, ablation_sweep, faithfulness_table
from tsft.patching.activation import patch_sweep
from tsft.patching.attribution import attribution_sweep, compare_with_exact
from tsft.patching.conditions import PatchRequest
from tsft.patching.cross import check_same_shape, check_same_tokenizer, self_pairs, transplant_sweep
from tsft.patching.engines import make_engine
from tsft.patching.pairs import prepare_pairs
from tsft.patching.requests import SweepRequest, TraceRequest
from tsft.patching.results import save_results, summarize, tidy
from tsft.patching.sites import block_size
from tsft.patching.tracing import causal_trace, trace_prompts
from tsft.tasks.dataset import load_dataset
from tsft.tasks.io import refuse_existing
from tsft.tasks.pairs import perturbation_pairs, surface_pairs, theorem_swap_pairs

PAIR_TYPES = ("theorem_swap", "surface", "perturbed", "perturbed:<kind>")


def minimal_pairs(dataset, pair_type: str):
    """Pairs of a type: theorem_swap, surface (synthetic), perturbed[:<kind>] (any data folder)."""
    if pair_type == "theorem_swap":
        pairs = theorem_swap_pairs(dataset.test)
    elif pair_type == "surface":
        pairs = surface_pairs(dataset.test)
    elif pair_type == "perturbed" or pair_type.startswith("perturbed:"):
        kind = pair_type.partition(":")[2]
        pairs = perturbation_pairs(dataset, [kind] if kind else None)
    else:
        raise ValueError(f"unknown pair type {pair_type!r}; choose one of {', '.join(PAIR_TYPES)}")
    if not pairs:
        raise ValueError(f"{dataset.folder}: no {pair_type} pairs can be built (theorem swaps and surface pairs "
                         "need synthetic problems); try --pairs perturbed or `tsft patch trace`")
    return pairs


def _rejections(rejected) -> dict:
    reasons = Counter(reason.split(":")[0] for _, reason in rejected)
    return {"n": len(rejected), "reasons": dict(reasons), "examples": [r for _, r in rejected[:3]]}


def check_layers(model_dir, layers) -> None:
    """Requested layers against the folder's config.json, before any model is loaded (other problems with the
    folder are left to the loader, which names them)."""

    try:
        depth = Checkpoint.open(model_dir).depth
    except ModelError:
        return
    bad = [layer for layer in layers or () if depth is not None and not 0 <= layer < depth]
    if bad:
        raise ValueError(f"layer {bad[0]} is out of range: {model_dir} has layers 0-{depth - 1}")


def run_sweep(model_dir, data_dir, out, request: SweepRequest = SweepRequest(), *, overwrite: bool = False,
              placement: Placement = Placement(), progress: bool = True):
    """Exact patching and/or its estimates of one checkpoint on pairs from a data folder, and the ablations of the
    same conditions beside them; with `request.faithfulness` (ks), the faithfulness curve of the top-k sites by
    exact patching under each ablation (faithfulness.parquet). Returns (the summary, what was run)."""
    request.check()
    check_layers(model_dir, request.sites.layers)
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
    target = request.target or checkpoint.target or "answer"
    pairs, meta = _sweep_pairs(data_dir, tokenizer, request, target)
    common = dict(model=checkpoint.name, direction=request.sites.direction, metric=request.sites.metric)
    with compute(model, placement.precision) as precision:
        exact = _exact_part(model, tokenizer, pairs, request, common, progress)
        estimates = _estimate_parts(model, pairs, request, common, meta)
        ablated, extra = _ablation_part(model, tokenizer, pairs, request, exact, checkpoint.name, progress)
        extra |= _mib_part(model, tokenizer, pairs, request, exact, estimates, checkpoint.name)
    meta["precision"] = precision
    if exact is not None:
        meta |= {f"{kind}_vs_exact": compare_with_exact(exact, frame) for kind, frame in estimates.items()}
    import pandas as pd

    frame = pd.concat([f for f in (exact, *estimates.values(), ablated) if f is not None], ignore_index=True)
    sizes = {(s.layer, s.component): block_size(model, s) for s in request.sites.sites(model)}
    frame["parameters"] = [sizes.get(key) for key in zip(frame["layer"], frame["component"], strict=True)]
    save_results(out, frame, {"kind": "sweep", "request": request.sites.to_dict(), "model": str(model_dir),
                              "data": str(data_dir), "engine": request.engine, "pair_type": request.pairs,
                              "target": target, "ablations": list(request.ablations),
                              "faithfulness": list(request.faithfulness), **meta}, overwrite, start, extra)
    return summarize(frame), meta


def _sweep_pairs(data_dir, tokenizer, request: SweepRequest, target: str) -> tuple[list, dict]:
    """The usable pairs (at most `limit`) and what was rejected, with reasons."""
    pairs, rejected = prepare_pairs(minimal_pairs(load_dataset(data_dir), request.pairs), tokenizer, target,
                                    request.allow_alignment)
    if request.sites.metric == "logit_diff":
        agree = [p for p in pairs if p.wrong is None]
        rejected += [(p, "targets agree: no wrong token for logit_diff (use --metric prob or kl)") for p in agree]
        pairs = [p for p in pairs if p.wrong is not None]
    if not pairs:
        raise ValueError(f"no usable pairs: all {len(rejected)} were rejected ({_rejections(rejected)['examples']})")
    pairs = pairs[:request.limit]
    return pairs, {"pairs": len(pairs), "rejected": _rejections(rejected)}


def _exact_part(model, tokenizer, pairs, request: SweepRequest, common: dict, progress: bool):
    """Exact activation patching on the request's engine (None when the method has no exact part)."""
    if "exact" not in request.methods:
        return None
    rows = patch_sweep(make_engine(request.engine, model, tokenizer), pairs, request.sites, progress=progress)
    return tidy(rows, **common, engine=request.engine, method="exact")


def _estimate_parts(model, pairs, request: SweepRequest, common: dict, meta: dict) -> dict:
    """{estimate: table} for attribution patching and AtP*, their forward / backward passes counted in `meta`."""
    estimates = {}
    for estimate in [m for m in request.methods if m != "exact"]:
        rows, meta.setdefault("passes", {})[estimate] = attribution_sweep(model, pairs, request.sites,
                                                                          star=estimate == "atp_star")
        estimates[estimate] = tidy(rows, **common, engine="hooks", method=estimate)
    return estimates


def _ablation_part(model, tokenizer, pairs, request: SweepRequest, exact, name: str, progress: bool):
    """(the ablation table or None, {faithfulness.parquet: curves} or {})."""
    if not request.ablations:
        return None, {}
    hooks = make_engine("hooks", model, tokenizer)
    rows = ablation_sweep(hooks, pairs, request.sites, request.ablations, progress)
    ablated = tidy(rows, model=name, direction="noise", metric=request.sites.metric, engine="hooks")
    if not request.faithfulness:
        return ablated, {}
    curves = faithfulness_table(hooks, pairs, exact, request.ablations, request.faithfulness, request.sites)
    return ablated, {"faithfulness.parquet": curves.assign(model=name)}


def _mib_part(model, tokenizer, pairs, request: SweepRequest, exact, estimates: dict, name: str) -> dict:
    """{mib.parquet: curves, mib_scores.parquet: CPR / CMD, mib_importance.json: exact's ranking} or {}."""
    if not request.mib:
        return {}
    from tsft.patching import mib

    ranked = mib.rankings(exact, estimates, request.mib)
    curves = mib.mib_curves(make_engine("hooks", model, tokenizer), pairs, ranked, request.ablations, request.sites)
    config = text_config(model)
    return {"mib.parquet": curves.assign(model=name), "mib_scores.parquet": mib.mib_scores(curves).assign(model=name),
            "mib_importance.json": mib.importance_json(exact, config.num_hidden_layers, config.hidden_size)}


def run_cross(a_dir, b_dir, data_dir, out, request: PatchRequest, *, target: str = "answer", limit: int = 64,
              overwrite: bool = False, placement: Placement = Placement(), progress: bool = True,
              random_draws: int = 0):
    """A's activations patched into B on the same prompts (clean = A, corrupt = B), per layer and component; with
    `random_draws`, the control rows (method `random`, column `draw`): B's own activation moved by a random
    direction of the same norm as A - B (patching.ablation.RandomDirectionEngine)."""
    request.check()
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    model_a, tok_a, checkpoint_a = load_checkpoint(a_dir, placement)
    model_b, tok_b, checkpoint_b = load_checkpoint(b_dir, placement)
    name_a, name_b = checkpoint_a.name, checkpoint_b.name
    check_same_tokenizer(tok_a, tok_b, (str(a_dir), str(b_dir)))
    check_same_shape(model_a, model_b)
    pairs = self_pairs(load_dataset(data_dir).test[:limit], tok_a, target)
    engine_a, engine_b = make_engine("hooks", model_a), make_engine("hooks", model_b)
    with compute(model_b, placement.precision) as precision:
        rows = [{**r, "method": "cross", "draw": 0}
                for r in patch_sweep(engine_b, pairs, request, progress=progress, clean_engine=engine_a)]
        for draw in range(random_draws):
            control = RandomDirectionEngine(engine_a, engine_b, seed=draw)
            rows += [{**r, "method": "random", "draw": draw}
                     for r in patch_sweep(engine_b, pairs, request, progress=progress, clean_engine=control)]
    frame = tidy(rows, model=f"{name_a}->{name_b}", engine="hooks", direction=request.direction,
                 metric=request.metric)
    save_results(out, frame, {"kind": "cross", "request": request.to_dict(), "a": str(a_dir), "b": str(b_dir),
                              "data": str(data_dir), "target": target, "pairs": len(pairs), "precision": precision,
                              "random_draws": random_draws}, overwrite, start)
    return summarize(frame)


def run_transplant(a_dir, b_dir, data_dir, out, *, width: int = 1, limit: int = 100, kinds: tuple[str, ...] = (),
                   overwrite: bool = False, placement: Placement = Placement(), random_draws: int = 0):
    """Accuracy of B with A's MLP weights in each layer window, on the originals and perturbed kinds; with
    `random_draws`, A's blocks at random locations of a window's parameter count beside them."""
    import pandas as pd

    depth = Checkpoint.open(b_dir).depth
    if width < 1 or (depth and width > depth):
        raise ValueError(f"--width {width}: a window is 1 to {depth or 'the model depth'} layers")
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    model_a, tok_a, checkpoint_a = load_checkpoint(a_dir, placement)
    model_b, tok_b, checkpoint_b = load_checkpoint(b_dir, placement)
    (name_a, target_a), (name_b, target_b) = ((c.name, c.target) for c in (checkpoint_a, checkpoint_b))
    check_same_tokenizer(tok_a, tok_b, (str(a_dir), str(b_dir)))
    splits = [(kind, problems) for _, kind, problems, _ in eval_splits(load_dataset(data_dir), kinds or None, limit)]
    longest = max(TARGET_NEW_TOKENS.values())
    new_tokens = max(TARGET_NEW_TOKENS.get(target_a, longest), TARGET_NEW_TOKENS.get(target_b, longest))
    with compute(model_b, placement.precision) as precision:
        rows = transplant_sweep(model_b, model_a, tok_b, splits, new_tokens, width, names=(name_a, name_b),
                                random_draws=random_draws)
    frame = pd.DataFrame(rows)
    save_tables(out, {"transplant.parquet": frame},
                {"kind": "transplant", "a": str(a_dir), "b": str(b_dir), "data": str(data_dir), "width": width,
                 "limit": limit, "precision": precision, "random_draws": random_draws}, overwrite, start)
    return frame


def run_trace(model_dir, data_dir, out, request: TraceRequest = TraceRequest(), *, overwrite: bool = False,
              placement: Placement = Placement()):
    """Noise-corruption causal tracing of one checkpoint on test problems."""
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
    target = request.target or checkpoint.target or "answer"
    prompts, skipped = trace_prompts(load_dataset(data_dir).test[:request.limit], tokenizer, target, request.subject)
    if not prompts:
        raise ValueError(f"no problem contains the subject {request.subject!r} ({len(skipped)} skipped)")
    with compute(model, placement.precision) as precision:
        rows = causal_trace(make_engine("hooks", model), prompts, request.components, request.positions,
                            request.window, request.samples, seed=request.seed)
    frame = tidy(rows, model=checkpoint.name, engine="hooks", method="trace", direction="restore", metric="prob")
    save_results(out, frame, {"kind": "trace", "model": str(model_dir), "data": str(data_dir),
                              "subject": request.subject, "window": request.window, "samples": request.samples,
                              "seed": request.seed, "target": target, "prompts": len(prompts),
                              "skipped": len(skipped), "precision": precision}, overwrite, start)
    return summarize(frame)
