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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from patching.hooks import intervene
from patching.metrics import normalized
from patching.pairs import continuation, prompt_side
from patching.sites import Site, sites
from training.batches import encode_target
from training.targets import render_target
from training.vision import image_inputs, require_encoder

GROUPS = ("image", "text", "last")
COMPONENTS = ("resid_pre", "attn_out", "mlp_out")
PAIR_KIND = "given_swap"


@dataclass(frozen=True)
class FigurePair:
    """A problem and its figure-swapped twin: shared tokens, two figures, the first differing target token."""

    pair_id: str
    theorem: str
    ids: tuple[int, ...]
    clean_image: str
    corrupt_image: str
    right: int
    wrong: int


def figure_pairs(dataset, tokenizer, target: str, limit: int | None = None) -> tuple[list[FigurePair], list[str]]:
    """(pairs, reasons for pairs left out) from a data folder's test originals and their given_swap twins."""
    if PAIR_KIND not in dataset.perturbed:
        raise ValueError(f"{dataset.folder}: no perturbed/{PAIR_KIND}.jsonl (build the data with --source diagram)")
    originals = {p.id: p for p in dataset.test}
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
        pairs.append(FigurePair(f"{clean.id}|{corrupt.id}", clean.theorem_ids[0], tuple(ids + shared), clean.image,
                                corrupt.image, right, wrong))
    return pairs, rejected


def group_masks(ids: torch.Tensor, image_token_id: int) -> dict[str, torch.Tensor]:
    """[batch, pos] boolean masks of the three position groups."""
    image = ids == image_token_id
    last = torch.zeros_like(image)
    last[:, -1] = True
    return {"image": image, "text": ~image & ~last, "last": last}


def _logit_diff(model, ids, inputs, right, wrong, edits=None, capture=()):
    with intervene(model, capture=capture, edit=edits or {}) as seen:
        logits = model(input_ids=ids, **inputs, logits_to_keep=1).logits[:, -1].float()
    diff = logits.gather(1, right[:, None])[:, 0] - logits.gather(1, wrong[:, None])[:, 0]
    return diff, seen


def _replace(mask: torch.Tensor, values: torch.Tensor):
    return lambda act: torch.where(mask[..., None].to(act.device), values.to(act), act)


@torch.inference_mode()
def _patch_batch(model, tokenizer, batch: Sequence[FigurePair], site_list: list[Site]) -> list[dict]:
    device = next(model.parameters()).device
    cpu_ids = torch.tensor([p.ids for p in batch])
    clean_in, corrupt_in = ({k: v.to(device) for k, v in image_inputs(tokenizer, cpu_ids, figures).items()}
                            for figures in ([p.clean_image for p in batch], [p.corrupt_image for p in batch]))
    ids = cpu_ids.to(device)
    right = torch.tensor([p.right for p in batch], device=device)
    wrong = torch.tensor([p.wrong for p in batch], device=device)
    clean, seen = _logit_diff(model, ids, clean_in, right, wrong, capture=site_list)
    corrupt, _ = _logit_diff(model, ids, corrupt_in, right, wrong)
    masks = group_masks(ids, require_encoder(tokenizer).image_token_id)
    rows = []
    for site in site_list:
        for group, mask in masks.items():
            patched, _ = _logit_diff(model, ids, corrupt_in, right, wrong, {site: _replace(mask, seen[site.name])})
            norm = normalized(patched, clean, corrupt)
            for i, pair in enumerate(batch):
                rows.append({"pair_id": pair.pair_id, "theorem": pair.theorem, "layer": site.layer,
                             "component": site.component, "group": group, "value": float(patched[i]),
                             "clean": float(clean[i]), "corrupt": float(corrupt[i]), "normalized": float(norm[i])})
    return rows


def group_patch(model, tokenizer, pairs: Sequence[FigurePair], components: Sequence[str] = COMPONENTS,
                layers: list[int] | None = None, batch_size: int = 16, progress: bool = False):
    """One row per (pair, layer, component, group): patched, clean and corrupt logit differences, normalized."""
    import pandas as pd
    from tqdm.auto import tqdm

    model.eval()
    site_list = sites(model, tuple(components), layers)
    by_length: dict[int, list[FigurePair]] = defaultdict(list)
    for pair in pairs:
        by_length[len(pair.ids)].append(pair)
    batches = [group[i:i + batch_size] for group in by_length.values() for i in range(0, len(group), batch_size)]
    rows = []
    for batch in tqdm(batches, desc="group patching", disable=not progress, leave=False):
        rows += _patch_batch(model, tokenizer, batch, site_list)
    return pd.DataFrame(rows)


def run_group_patch(model_dir, data_dir, out, target: str | None = None, limit: int | None = None,
                    components: Sequence[str] = COMPONENTS, batch_size: int = 16, device: str = "cpu",
                    overwrite: bool = False, progress: bool = True):
    """Patch a Qwen2.5-VL folder's layers over position groups on a diagram data folder's given_swap
    pairs; writes groups.parquet and request.json (kind "groups") to `out`."""
    import json

    from tasks.dataset import load_dataset
    from tasks.io import atomic_dir, refuse_existing
    from training.checkpoint import read_card
    from training.models import load_model
    from training.vision import is_vision_model

    refuse_existing(out, overwrite)
    model, tokenizer = load_model(model_dir, device=device, attn_implementation="eager")
    if not is_vision_model(model):
        raise ValueError(f"{model_dir}: position-group patching needs a Qwen2.5-VL model (this is "
                         f"{model.config.model_type})")
    card = read_card(model_dir) or {}
    target = target or card.get("config", {}).get("target") or "answer"
    pairs, rejected = figure_pairs(load_dataset(data_dir), tokenizer, target, limit)
    if not pairs:
        raise ValueError(f"{data_dir}: no usable given_swap pairs ({len(rejected)} left out)")
    frame = group_patch(model, tokenizer, pairs, components, batch_size=batch_size, progress=progress)
    name = card.get("name", str(model_dir))
    frame.insert(0, "model", name)
    request = {"kind": "groups", "model": str(model_dir), "name": name, "model_kind": card.get("kind"),
               "config": card.get("config", {}), "data": str(data_dir), "target": target, "pairs": len(pairs),
               "rejected": rejected[:20], "n_rejected": len(rejected), "components": list(components)}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        frame.to_parquet(tmp / "groups.parquet", index=False)
        (tmp / "request.json").write_text(json.dumps(request, indent=2, default=str) + "\n")
    return frame
