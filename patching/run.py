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

from tsft.models.cards import Checkpoint, ModelError
from tsft.models.evaluate import TARGET_NEW_TOKENS, eval_splits
from tsft.models.placement import Placement, load_checkpoint
from tsft.models.precision import compute
from tsft.models.provenance import write_request
from tsft.patching.ablation import ABLATIONS, RandomDirectionEngine, ablation_sweep, faithfulness_table
from tsft.patching.activation import patch_sweep
from tsft.patching.attribution import attribution_sweep, compare_with_exact
from tsft.patching.conditions import PatchRequest
from tsft.patching.cross import check_same_shape, check_same_tokenizer, self_pairs, transplant_sweep
from tsft.patching.engines import check_engine, make_engine
from tsft.patching.pairs import prepare_pairs
from tsft.patching.results import save_results, summarize, tidy
from tsft.patching.sites import block_size
from tsft.patching.tracing import causal_trace, trace_prompts
from tsft.tasks.dataset import load_dataset
from tsft.tasks.io import atomic_dir, refuse_existing
from tsft.tasks.pairs import perturbation_pairs, surface_pairs, theorem_swap_pairs

PAIR_TYPES = ("theorem_swap", "surface", "perturbed", "perturbed:<kind>")
METHODS = {"exact": ("exact",), "attribution": ("attribution",), "atp_star": ("atp_star",),
           "both": ("exact", "attribution"), "all": ("exact", "attribution", "atp_star")}
"""--method: exact patching, plain attribution patching, AtP* (patching.atp_star), or exact beside estimates."""


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


def run_sweep(model_dir, data_dir, out, request: PatchRequest, engine: str = "hooks", pair_type: str = "theorem_swap",
              target: str | None = None, limit: int = 64, method: str = "exact", allow_alignment: bool = False,
              overwrite: bool = False, placement: Placement = Placement(), progress: bool = True,
              ablations: tuple[str, ...] = (), faithfulness: tuple[int, ...] = ()):
    """Exact patching and/or its estimates (METHODS) of one checkpoint on pairs from a data folder, and the `ablations`
    (zero | mean | resample) of the same conditions beside them; with `faithfulness` (ks), the faithfulness
    curve of the top-k sites by exact patching under each ablation (faithfulness.parquet). Returns the summary."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = sorted(set(ablations) - set(ABLATIONS))
    if unknown:
        raise ValueError(f"unknown ablation(s) {unknown}; choose from {', '.join(ABLATIONS)}")
    if faithfulness and ("exact" not in METHODS[method] or not ablations):
        raise ValueError("faithfulness curves rank sites by exact patching and ablate the rest: they need "
                         f"--method {' or '.join(m for m in METHODS if 'exact' in METHODS[m])} and at least one "
                         "--ablations")
    check_engine(engine)
    request.check()
    check_layers(model_dir, request.layers)
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
    name, trained = checkpoint.name, checkpoint.target
    target = target or trained or "answer"
    pairs, rejected = prepare_pairs(minimal_pairs(load_dataset(data_dir), pair_type), tokenizer, target,
                                    allow_alignment)
    if request.metric == "logit_diff":
        agree = [p for p in pairs if p.wrong is None]
        rejected += [(p, "targets agree: no wrong token for logit_diff (use --metric prob or kl)") for p in agree]
        pairs = [p for p in pairs if p.wrong is not None]
    if not pairs:
        raise ValueError(f"no usable pairs: all {len(rejected)} were rejected ({_rejections(rejected)['examples']})")
    pairs = pairs[:limit]
    meta: dict = {"pairs": len(pairs), "rejected": _rejections(rejected)}
    common = dict(model=name, direction=request.direction, metric=request.metric)
    exact, estimates, ablated, extra = None, {}, None, {}
    with compute(model, placement.precision) as precision:
        if "exact" in METHODS[method]:
            rows = patch_sweep(make_engine(engine, model, tokenizer), pairs, request, progress=progress)
            exact = tidy(rows, **common, engine=engine, method="exact")
        for estimate in [m for m in METHODS[method] if m != "exact"]:
            rows, meta.setdefault("passes", {})[estimate] = attribution_sweep(model, pairs, request,
                                                                              star=estimate == "atp_star")
            estimates[estimate] = tidy(rows, **common, engine="hooks", method=estimate)
        if ablations:
            hooks = make_engine("hooks", model, tokenizer)
            rows = ablation_sweep(hooks, pairs, request, ablations, progress)
            ablated = tidy(rows, model=name, direction="noise", metric=request.metric, engine="hooks")
            extra = {"faithfulness.parquet": faithfulness_table(hooks, pairs, exact, ablations, faithfulness,
                                                                request).assign(model=name)} if faithfulness else {}
    meta["precision"] = precision
    if exact is not None:
        meta |= {f"{kind}_vs_exact": compare_with_exact(exact, frame) for kind, frame in estimates.items()}
    frames = [f for f in (exact, *estimates.values(), ablated) if f is not None]
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    sizes = {(s.layer, s.component): block_size(model, s) for s in request.sites(model)}
    frame["parameters"] = [sizes.get(key) for key in zip(frame["layer"], frame["component"], strict=True)]
    save_results(out, frame, {"kind": "sweep", "request": request.to_dict(), "model": str(model_dir),
                              "data": str(data_dir), "engine": engine, "pair_type": pair_type, "target": target,
                              "ablations": list(ablations), "faithfulness": list(faithfulness), **meta}, overwrite,
                 start, extra)
    return summarize(frame), meta


def run_cross(a_dir, b_dir, data_dir, out, request: PatchRequest, target: str = "answer", limit: int = 64,
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


def run_transplant(a_dir, b_dir, data_dir, out, width: int = 1, limit: int = 100, kinds: tuple[str, ...] = (),
                   overwrite: bool = False, placement: Placement = Placement(), random_draws: int = 0):
    """Accuracy of B with A's MLP weights in each layer window, on the originals and perturbed kinds; with
    `random_draws`, A's blocks at random locations of a window's parameter count beside them."""
    import pandas as pd

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
    with atomic_dir(out, overwrite=overwrite) as tmp:
        frame.to_parquet(tmp / "transplant.parquet", index=False)
        write_request(tmp, {"kind": "transplant", "a": str(a_dir), "b": str(b_dir), "data": str(data_dir),
                            "width": width, "limit": limit, "precision": precision, "random_draws": random_draws},
                      start)
    return frame


def run_trace(model_dir, data_dir, out, subject: str = "problem", components=("resid_post", "mlp_out", "attn_out"),
              positions: str = "spans", window: int = 1, samples: int = 5, target: str | None = None,
              limit: int = 32, seed: int = 0, overwrite: bool = False, placement: Placement = Placement()):
    """Noise-corruption causal tracing of one checkpoint on test problems."""
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
    name, trained = checkpoint.name, checkpoint.target
    target = target or trained or "answer"
    prompts, skipped = trace_prompts(load_dataset(data_dir).test[:limit], tokenizer, target, subject)
    if not prompts:
        raise ValueError(f"no problem contains the subject {subject!r} ({len(skipped)} skipped)")
    with compute(model, placement.precision) as precision:
        rows = causal_trace(make_engine("hooks", model), prompts, components, positions, window, samples, seed=seed)
    frame = tidy(rows, model=name, engine="hooks", method="trace", direction="restore", metric="prob")
    save_results(out, frame, {"kind": "trace", "model": str(model_dir), "data": str(data_dir), "subject": subject,
                              "window": window, "samples": samples, "seed": seed, "target": target,
                              "prompts": len(prompts), "skipped": len(skipped), "precision": precision},
                 overwrite, start)
    return summarize(frame)
