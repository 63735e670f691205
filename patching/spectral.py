"""What SFT did to the weights, beyond a norm: the SVD view of each matrix's update.

For one weight matrix, base W0 = U S V^T (its singular value decomposition) and tuned W = W0 + D:

* **scaling vs rotation** (He & Cao 2025's question): the part of D that only rescales the base's own singular
  directions is D_scale = sum_i (u_i^T D v_i) u_i v_i^T, the diagonal of D in the base's singular bases. Its
  share ||D_scale||^2 / ||D||^2 is 1 when SFT only re-weighted what the base computes, near 0 when it rotated
  the singular vectors (wrote new directions). `scale_share` reports it.
* **effective rank** of D: exp of the entropy of its normalised squared singular values (Roy & Vetterli 2007):
  1 for a rank-one update, k for k equal directions. `top_share` is the share of ||D||^2 in its top k.
* **overlap of two updates**: the principal angles between the top-k left singular subspaces of answer-SFT's
  and theorem-SFT's updates of the same matrix; `overlap` is the mean squared cosine (1 = same subspace, k/d
  expected by chance for random subspaces of a d-dimensional space).
* **restoring the top-k directions**: W0 + U_k S_k V_k^T of one checkpoint's update (its rank-k part), put
  into the base, so accuracy on originals and perturbations shows how many directions carry what SFT taught
  (`restore_top_k`, evaluated by `patching.run.run_spectral_restore`).

Every matrix of the layers' attention and MLP blocks is read (1-D parameters, norms and embeddings are not
matrices of a layer's computation and are left to `patching.weights`).
"""

from __future__ import annotations

import copy
import math
import time

import pandas as pd
import torch
from tsft.models.architectures import architecture
from tsft.models.evaluate import TARGET_NEW_TOKENS, eval_splits, splits_accuracy
from tsft.models.placement import Placement, load_checkpoint
from tsft.models.precision import compute
from tsft.models.provenance import save_tables
from tsft.patching.weights import block_of
from tsft.tasks.dataset import load_dataset
from tsft.tasks.io import refuse_existing

TOP_K = 8


def effective_rank(singular: torch.Tensor) -> float:
    """exp(entropy of s^2 / sum s^2); 0 for a zero matrix."""
    energy = singular.double() ** 2
    total = energy.sum()
    if total <= 0:
        return 0.0
    p = energy[energy > 0] / total
    return float(torch.exp(-(p * p.log()).sum()))


def singular_bases(base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, V^T) of a base matrix (float64), computed once per matrix and reused for every checkpoint."""
    u, _, vh = torch.linalg.svd(base.double(), full_matrices=False)
    return u, vh


def scale_share(base: torch.Tensor, delta: torch.Tensor, bases: tuple | None = None) -> float:
    """Share of ||delta||^2 that rescales the base's singular directions (see the module docstring)."""
    u, vh = bases if bases is not None else singular_bases(base)
    diagonal = torch.einsum("ij,jk,ki->i", u.T, delta.double(), vh.T)
    total = float((delta.double() ** 2).sum())
    return float((diagonal ** 2).sum()) / total if total > 0 else math.nan


def subspace_overlap(a: torch.Tensor, b: torch.Tensor, k: int = TOP_K) -> float:
    """Mean squared cosine of the principal angles between the top-k left singular subspaces of a and b."""
    ua = torch.linalg.svd(a.double(), full_matrices=False)[0][:, :k]
    ub = torch.linalg.svd(b.double(), full_matrices=False)[0][:, :k]
    cosines = torch.linalg.svdvals(ua.T @ ub)
    return float((cosines ** 2).mean())


def top_k_update(delta: torch.Tensor, k: int) -> torch.Tensor:
    """The best rank-k approximation of an update (Eckart-Young)."""
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    return ((u[:, :k] * s[:k]) @ vh[:k]).to(delta.dtype)


def matrices(model) -> dict[str, tuple[int, str]]:
    """{parameter name: (layer, block)} of every 2-D attention and MLP weight of the layers."""
    arch = architecture(model)
    out = {}
    for name, param in model.named_parameters():
        layer, block = block_of(name, arch)
        if param.ndim == 2 and block in ("attn", "mlp") and layer >= 0:
            out[name] = (layer, block)
    return out


def spectral_rows(base, tuned, k: int = TOP_K, bases: dict | None = None) -> list[dict]:
    """One row per matrix: relative change, scaling share, effective rank and top-k share of the update
    (`bases`: {parameter name: singular_bases(base matrix)}, filled as it goes, to share across checkpoints)."""
    base_state, tuned_state = dict(base.named_parameters()), dict(tuned.named_parameters())
    bases = {} if bases is None else bases
    rows = []
    for name, (layer, block) in matrices(tuned).items():
        before = base_state[name].detach()
        delta = tuned_state[name].detach().double() - before.double()
        singular = torch.linalg.svdvals(delta)
        energy = float((singular ** 2).sum())
        if name not in bases:
            bases[name] = singular_bases(before)
        rows.append({"layer": layer, "block": block, "parameter": name,
                     "change": float(delta.norm() / before.double().norm()),
                     "scale_share": scale_share(before, delta, bases[name]), "effective_rank": effective_rank(singular),
                     "top_share": float((singular[:k] ** 2).sum()) / energy if energy > 0 else math.nan})
    return rows


def overlap_rows(base, first, second, k: int = TOP_K) -> list[dict]:
    """One row per matrix: overlap of the two checkpoints' update subspaces, and the chance level k / rows."""
    base_state, a_state, b_state = (dict(m.named_parameters()) for m in (base, first, second))
    rows = []
    for name, (layer, block) in matrices(first).items():
        w0 = base_state[name].detach().double()
        da, db = a_state[name].detach().double() - w0, b_state[name].detach().double() - w0
        moved = bool(da.abs().max() > 0 and db.abs().max() > 0)  # an untouched matrix has no update subspace
        rows.append({"layer": layer, "block": block, "parameter": name,
                     "overlap": subspace_overlap(da, db, k) if moved else math.nan,
                     "chance": min(k, w0.shape[0]) / w0.shape[0]})
    return rows


@torch.no_grad()
def restore_top_k(base, tuned, k: int) -> None:
    """Set every layer matrix of `base` to W0 + (the rank-k part of tuned's update), in place."""
    tuned_state, chosen = dict(tuned.named_parameters()), matrices(base)
    for name, param in base.named_parameters():
        if name in chosen:
            delta = tuned_state[name].detach() - param.detach()
            param.add_(top_k_update(delta.float(), k).to(param.dtype))


def run_spectral(base_dir, model_dirs, out, *, pairs: tuple[tuple[str, str], ...] = (), k: int = TOP_K,
                 overwrite: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """spectral.parquet (every checkpoint's matrices) and overlap.parquet (each (a, b) pair of checkpoint names
    in `pairs`, e.g. theorem-SFT and answer-SFT) with request.json, written to `out`."""
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    base, _, base_checkpoint = load_checkpoint(base_dir)
    base_name = base_checkpoint.name
    tuned = {}
    for folder in model_dirs:
        model, _, checkpoint = load_checkpoint(folder)
        name = checkpoint.name
        tuned[name] = model
    bases: dict = {}
    spectral = pd.DataFrame([{"model": name, **row} for name, model in tuned.items()
                             for row in spectral_rows(base, model, k, bases)])
    overlap = pd.DataFrame([{"a": a, "b": b, **row} for a, b in pairs if a in tuned and b in tuned
                            for row in overlap_rows(base, tuned[a], tuned[b], k)])
    save_tables(out, {"spectral.parquet": spectral, "overlap.parquet": overlap},
                {"kind": "spectral", "base": str(base_dir), "base_name": base_name, "k": k,
                 "models": [str(m) for m in model_dirs], "pairs": [list(p) for p in pairs]}, overwrite, start)
    return spectral, overlap


def run_spectral_restore(base_dir, tuned_dir, data_dir, out, *, ks: tuple[int, ...] = (1, 4, 16), limit: int = 64,
                         kinds: tuple[str, ...] = (), overwrite: bool = False,
                         placement: Placement = Placement()) -> pd.DataFrame:
    """Accuracy of the base with the top-k singular directions of one checkpoint's update restored in every layer
    matrix, for each k (and the base and the checkpoint themselves), on the originals and `kinds`;
    restore.parquet and request.json in `out`. Prompts are the checkpoint's (its tokenizer and prompt format)."""
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    tuned, tokenizer, checkpoint = load_checkpoint(tuned_dir, placement)
    name, target = checkpoint.name, checkpoint.target
    base = load_checkpoint(base_dir, placement)[0]
    splits = [(kind, problems) for _, kind, problems, _ in eval_splits(load_dataset(data_dir), kinds or None, limit)]
    new_tokens = TARGET_NEW_TOKENS.get(target, max(TARGET_NEW_TOKENS.values()))
    rows = []
    for label in ("base", *map(str, ks), "checkpoint"):
        if label in ("base", "checkpoint"):
            model = base if label == "base" else tuned
        else:  # a fresh copy of the base for each k (restore_top_k works in place)
            model = copy.deepcopy(base)
            restore_top_k(model, tuned, int(label))
        with compute(model, placement.precision):
            scored = splits_accuracy(model, tokenizer, splits, new_tokens)
        rows += [{"model": name, "k": label, "kind": row["kind"], "n": row["n"], "accuracy": row["accuracy"]}
                 for row in scored]
    frame = pd.DataFrame(rows)
    save_tables(out, {"restore.parquet": frame}, {"kind": "restore", "base": str(base_dir), "model": str(tuned_dir),
                                                  "ks": list(ks), "limit": limit, "kinds": list(kinds)},
                overwrite, start)
    return frame
