"""Weight change from a base to a fine-tuned checkpoint, per module and layer (experiment E6).

For each parameter tensor W of the checkpoint and W0 of its base, the relative Frobenius change is
||W - W0||_F / ||W0||_F: 0 = untouched (a frozen parameter is exactly 0), 0.1 = moved by a tenth
of its own size. Rows are grouped by layer and block: `attn` (q, k, v, o projections), `mlp`
(gate, up, down), `norm` (the layer's norms), and the non-layer parameters (`embed`, `head`,
`final_norm`, layer -1). A block's figure is computed over its parameters together,
sqrt(sum ||dW||^2) / sqrt(sum ||W0||^2), so a block is not dominated by its smallest matrix.

Module paths come from the architecture table (models.architectures); tied input/output embeddings count once.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tsft.models.architectures import Architecture, architecture
from tsft.models.placement import load_checkpoint
from tsft.models.provenance import save_tables
from tsft.tasks.io import refuse_existing


def block_of(name: str, arch: Architecture) -> tuple[int, str]:
    """(layer, block) of a parameter name: ('model.layers.3.mlp.up_proj.weight') -> (3, 'mlp')."""
    prefix = arch.layers + "."
    if name.startswith(prefix):
        layer, rest = name[len(prefix):].split(".", 1)
        for block, path in arch.blocks.items():
            if rest.startswith(path + "."):
                return int(layer), block
        return int(layer), "norm"
    if name.startswith(arch.embed + "."):
        return -1, "embed"
    return -1, "head" if "lm_head" in name else "final_norm"


def weight_change(base, tuned) -> list[dict]:
    """One row per (layer, block, parameter) and per (layer, block): the relative Frobenius change."""
    arch = architecture(tuned)
    base_state = dict(base.named_parameters())
    rows, blocks = [], {}
    for name, param in tuned.named_parameters():
        if name not in base_state:
            raise ValueError(f"parameter {name} is not in the base: the checkpoints have different architectures")
        before = base_state[name].detach().float()
        if before.shape != param.shape:
            raise ValueError(f"parameter {name}: shape {tuple(param.shape)} vs the base's {tuple(before.shape)}")
        diff = float(torch.linalg.vector_norm(param.detach().float() - before))
        size = float(torch.linalg.vector_norm(before))
        layer, block = block_of(name, arch)
        rows.append({"layer": layer, "block": block, "parameter": name, "change": diff / size if size else 0.0,
                     "abs_change": diff, "norm": size})
        total = blocks.setdefault((layer, block), [0.0, 0.0])
        total[0] += diff ** 2
        total[1] += size ** 2
    for (layer, block), (diff2, size2) in blocks.items():
        change = (diff2 / size2) ** 0.5 if size2 else 0.0
        rows.append({"layer": layer, "block": block, "parameter": "*", "change": change, "abs_change": diff2 ** 0.5,
                     "norm": size2 ** 0.5})
    return rows


def run_weights(base_dir, model_dirs, out, overwrite: bool = False):
    """Weight change of every checkpoint from the base; writes weights.parquet and request.json to `out`."""
    import pandas as pd

    refuse_existing(out, overwrite)
    start = time.perf_counter()
    base, _, base_checkpoint = load_checkpoint(base_dir)
    base_name = base_checkpoint.name
    frames = []
    for folder in model_dirs:
        tuned, _, checkpoint = load_checkpoint(folder)
        name = checkpoint.name
        frame = pd.DataFrame(weight_change(base, tuned))
        frame.insert(0, "model", name)
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(1, "base", base_name)
    save_tables(out, {"weights.parquet": frame},
                {"kind": "weights", "base": str(base_dir), "models": [str(m) for m in model_dirs]}, overwrite, start)
    return Path(out), frame
