"""Delta inference: a fine-tune's weight updates put back into its base one block type at a time.

TAIA (Jiang et al., arXiv 2405.20192) reports that under distribution shift a fine-tune generalizes better when
only its attention updates are kept and the base's feed-forward weights are used, the opposite of the reading
that feed-forward layers carry what SFT taught. For a checkpoint tuned from `base`, each variant is the base
with some of the checkpoint's parameters copied in (W0 + delta = the tuned W):

* `base`   - no update;
* `attn`   - every attention block's parameters (projections, and q/k norms where the family has them);
* `mlp`    - every MLP block's parameters;
* `blocks` - both (everything but the layer norms, embeddings and head);
* `all`    - every parameter: the checkpoint itself.

Each variant generates on the test originals and every perturbed version of them (greedy, the checkpoint's own
prompt format and target length), graded per problem, so the analysis can pool seeds and pair variants problem by
problem. `deltas.parquet` (model, variant, kind, problem_id, original_id, correct, output) and request.json.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

VARIANTS = {"base": (), "attn": ("attn",), "mlp": ("mlp",), "blocks": ("attn", "mlp"), "all": None}
"""Variant -> the block types whose updates are applied (None: every parameter)."""


@contextmanager
def variant_model(base, tuned, variant: str):
    """The model of one variant inside the block: the base with the chosen blocks' updates copied in (restored on
    exit, `patching.cross.transplanted`), or the checkpoint itself for `all`."""
    from tsft.models.architectures import n_layers
    from tsft.patching.cross import transplanted

    if variant not in VARIANTS:
        raise ValueError(f"unknown delta variant {variant!r}; use one of {', '.join(VARIANTS)}")
    if VARIANTS[variant] is None:
        yield tuned
        return
    blocks = [(layer, block) for layer in range(n_layers(base)) for block in VARIANTS[variant]]
    with transplanted(base, tuned, blocks=blocks) as model:
        yield model


def run_deltas(base_dir, tuned_dir, data_dir, out, *, variants: tuple[str, ...] = tuple(VARIANTS),
               limit: int | None = None, kinds: tuple[str, ...] = (), overwrite: bool = False, placement=None,
               progress: bool = True):
    """Every variant of one checkpoint on the originals and `kinds` (every perturbed kind by default); returns the
    per-problem frame, written with request.json to `out`."""
    import pandas as pd
    from tqdm.auto import tqdm
    from tsft.models.evaluate import TARGET_NEW_TOKENS, eval_splits, evaluate_splits, grade_outputs
    from tsft.models.placement import Placement, load_checkpoint
    from tsft.models.precision import compute
    from tsft.models.provenance import save_tables
    from tsft.tasks.dataset import load_dataset
    from tsft.tasks.io import refuse_existing

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"unknown delta variant {(unknown or [''])[0]!r}; use one of {', '.join(VARIANTS)}")
    refuse_existing(out, overwrite)
    start, placement = time.perf_counter(), placement or Placement()
    splits = eval_splits(load_dataset(data_dir), ("original", *kinds) if kinds else None, limit)
    tuned, tokenizer, checkpoint = load_checkpoint(tuned_dir, placement)
    base = load_checkpoint(base_dir, placement)[0]
    new_tokens = TARGET_NEW_TOKENS.get(checkpoint.target, max(TARGET_NEW_TOKENS.values()))
    rows = []
    for variant in tqdm(variants, desc="delta variants", disable=not progress):
        with variant_model(base, tuned, variant) as model, compute(model, placement.precision) as precision:
            said = evaluate_splits(model, tokenizer, [problems for _, _, problems, _ in splits], new_tokens)
        for (_, kind, problems, originals), outputs in zip(splits, said, strict=True):
            graded = grade_outputs(problems, outputs, checkpoint.name, "", kind, originals)
            rows += [{"model": checkpoint.name, "variant": variant, "kind": kind, "problem_id": r["problem_id"],
                      "original_id": r["original_id"], "correct": bool(r["correct"]), "output": r["output"]}
                     for r in graded]
    frame = pd.DataFrame(rows)
    save_tables(out, {"deltas.parquet": frame},
                {"kind": "deltas", "base": str(base_dir), "model": str(tuned_dir), "data": str(data_dir),
                 "variants": list(variants), "limit": limit, "kinds": list(kinds), "precision": precision},
                overwrite, start)
    return frame
