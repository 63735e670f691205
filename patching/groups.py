"""Position-group patching for vision-language models: where is a figure's given read?

A diagram problem and its `given_swap` (tasks.diagram.world) have the same text and differ only
in the number written on the figure, so their prompts have identical tokens and the two runs
differ only in the image embeddings scattered into the `<|image_pad|>` positions. Their targets
first differ where the figure's value is written (in the theorem style, the Map binding "Y = angle
Q = 50"; in the answer style, the answer's first differing digit): `right` is the clean token,
`wrong` the corrupt one.

Each position of the prompt is in one group:

* `image` - the figure's tokens;
* `text`  - every other prompt and teacher-forced target token but the last;
* `last`  - the position whose next-token logits are read.

For each (layer, component, group), the corrupt run (the swapped figure) receives the clean
run's activation at that site on that group's positions only, and the logit difference right -
wrong is normalized: 0 = the corrupt run, 1 = the clean run. `resid_pre` at layer 0 on `image`
restores the clean run exactly, and on `text` changes nothing (the text is the same): the tests
check both. Where restoration moves from the image group to the text and last groups, and
whether attention or the MLP carries it there, is where the model reads the figure.

The patching itself is the generic loop (`patching.activation.patch_sweep`) on the hooks engine: a figure pair is
a `PatchPair` whose two sides share their tokens and carry their figures, the three groups are its spans, and the
engine builds each side's pixel inputs. So a group patch is batched, skips exact no-ops and is scored exactly as
every other sweep.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
import torch
from tsft.models.images import is_vision_model, require_encoder
from tsft.models.placement import Placement, load_checkpoint
from tsft.models.prompts import encode_target
from tsft.models.provenance import save_tables
from tsft.models.targets import render_target
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import HooksEngine
from tsft.patching.pairs import PatchPair, continuation, prompt_side
from tsft.tasks.dataset import load_dataset
from tsft.tasks.io import refuse_existing

GROUPS = ("image", "text", "last")
COMPONENTS = ("resid_pre", "attn_out", "mlp_out")
PAIR_KIND = "given_swap"
COLUMNS = ["pair_id", "theorem", "layer", "component", "group", "value", "clean", "corrupt", "normalized"]


def group_masks(ids: torch.Tensor, image_token_id: int) -> dict[str, torch.Tensor]:
    """[batch, pos] boolean masks of the three position groups."""
    image = ids == image_token_id
    last = torch.zeros_like(image)
    last[:, -1] = True
    return {"image": image, "text": ~image & ~last, "last": last}


def group_spans(ids: Sequence[int], image_token_id: int) -> dict[str, tuple[int, ...]]:
    """Each position's group as spans (GROUPS order), for the generic loop."""
    masks = group_masks(torch.tensor([list(ids)]), image_token_id)
    return {group: tuple(masks[group][0].nonzero().flatten().tolist()) for group in GROUPS}


def figure_pairs(dataset, tokenizer, target: str, limit: int | None = None) -> tuple[list[PatchPair], list[str]]:
    """(pairs, reasons for pairs left out) from a data folder's test originals and their given_swap twins; each
    pair's `kind` is the theorem it applies."""
    if PAIR_KIND not in dataset.perturbed:
        raise ValueError(f"{dataset.folder}: no perturbed/{PAIR_KIND}.jsonl (build the data with --source diagram)")
    originals = {p.id: p for p in dataset.test}
    image_token = require_encoder(tokenizer).image_token_id
    pairs, rejected = [], []
    for row in dataset.perturbed[PAIR_KIND][:limit]:
        clean, corrupt = originals[row.original_id], row.problem
        ids, corrupt_ids = prompt_side(clean, tokenizer)[0], prompt_side(corrupt, tokenizer)[0]
        if ids != corrupt_ids:
            rejected.append(f"{clean.id}: the prompts' tokens differ")
            continue
        shared, right, wrong = continuation(encode_target(tokenizer, render_target(clean, target)),
                                            encode_target(tokenizer, render_target(corrupt, target)),
                                            tokenizer.eos_token_id)
        if wrong is None:
            rejected.append(f"{clean.id}: the targets agree")
            continue
        full = tuple(ids + shared)
        spans = group_spans(full, image_token)
        pairs.append(PatchPair(f"{clean.id}|{corrupt.id}", clean.theorem_ids[0], full, full, right, wrong, spans,
                               spans, clean.image, corrupt.image))
    return pairs, rejected


def group_patch(model, tokenizer, pairs: Sequence[PatchPair], components: Sequence[str] = COMPONENTS,
                layers: list[int] | None = None, memory_mb: int = 512, progress: bool = False) -> pd.DataFrame:
    """One row per (pair, layer, component, group): patched, clean and corrupt logit differences, normalized."""
    request = PatchRequest(components=tuple(components), layers=tuple(layers) if layers is not None else None,
                           positions="spans", direction="denoise", metric="logit_diff", memory_mb=memory_mb)
    rows = patch_sweep(HooksEngine(model, tokenizer), list(pairs), request, progress=progress)
    frame = pd.DataFrame(rows).rename(columns={"position": "group", "pair_type": "theorem"})
    return frame[COLUMNS]


def run_group_patch(model_dir, data_dir, out, *, target: str | None = None, limit: int | None = None,
                    components: Sequence[str] = COMPONENTS, placement: Placement = Placement(), overwrite: bool = False,
                    progress: bool = True):
    """Patch a Qwen2.5-VL folder's layers over position groups on a diagram data folder's given_swap
    pairs; writes groups.parquet and request.json (kind "groups") to `out`."""
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
    name, trained, card = checkpoint.name, checkpoint.target, checkpoint.card
    if not is_vision_model(model):
        raise ValueError(f"{model_dir}: position-group patching needs a Qwen2.5-VL model (this is "
                         f"{model.config.model_type})")
    target = target or trained or "answer"
    pairs, rejected = figure_pairs(load_dataset(data_dir), tokenizer, target, limit)
    if not pairs:
        raise ValueError(f"{data_dir}: no usable given_swap pairs ({len(rejected)} left out)")
    frame = group_patch(model, tokenizer, pairs, components, progress=progress)
    frame.insert(0, "model", name)
    request = {"kind": "groups", "model": str(model_dir), "name": name, "model_kind": card.get("kind"),
               "config": card.get("config", {}), "data": str(data_dir), "target": target, "pairs": len(pairs),
               "rejected": rejected[:20], "n_rejected": len(rejected), "components": list(components)}
    save_tables(out, {"groups.parquet": frame}, request, overwrite, start)
    return frame
