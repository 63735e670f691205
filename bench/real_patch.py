"""Exact patching on the real model: tsft's sweep against TransformerLens's, on SmolLM2-135M-Instruct.

Both run the full denoising sweep (clean into corrupt) of `resid_pre`, `attn_out` and `mlp_out` at
every layer (30) and every position, on the same equal-length theorem-swap pairs of the
synthetic world rendered through SmolLM2's chat template (no system prompt), scored by the logit
difference between the clean and the corrupt answer token at the last position, averaged over
pairs. TransformerLens's `get_act_patch_block_every` runs one forward of the pair batch per
(component, layer, position) on its TransformerBridge; tsft stacks every condition into
micro-batches that start after an unpatched prefix (patching.activation). Both in float32:
the numbers must be identical. Then tsft's sweep again under bf16 autocast, its deviation from
float32 printed. The last line:

    max_abs_diff=<x> speedup=<r>x

Needs the model in tsft's cache (`tsft models get smollm2-135m-instruct`).
Usage: python bench/real_patch.py [--pairs 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from patch_sweep import same_length_pairs, tl_sweep  # bench/ is the script's folder, so its sibling imports by name
from tsft.models.loading import load_model
from tsft.models.precision import compute
from tsft.models.prompts import PromptFormat, set_prompt_format
from tsft.models.registry import get_model
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import BridgeEngine, HooksEngine

COMPONENTS = ("resid_pre", "attn_out", "mlp_out")


def tsft_sweep(engine, pairs) -> torch.Tensor:
    """[component, layer, position] mean logit difference after patching, from tsft's batched loop."""
    rows = patch_sweep(engine, pairs, PatchRequest(components=COMPONENTS, positions="each", memory_mb=1024))
    out = torch.zeros(len(COMPONENTS), engine.model.config.num_hidden_layers, len(pairs[0].clean_ids),
                      dtype=torch.float64)
    for row in rows:
        out[COMPONENTS.index(row["component"]), row["layer"], int(row["position"])] += row["value"] / len(pairs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_model(get_model("smollm2-135m-instruct", log=lambda _: None), dtype=torch.float32,
                                  attn_implementation="eager")
    model.eval()
    set_prompt_format(tokenizer, PromptFormat(system="none"))
    pairs = same_length_pairs(tokenizer, args.pairs, "answer")
    engine = HooksEngine(model)
    bridge = BridgeEngine(copy.deepcopy(model), tokenizer).bridge
    start = time.perf_counter()
    ours = tsft_sweep(engine, pairs)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = tl_sweep(bridge, pairs, "get_act_patch_block_every")
    theirs_s = time.perf_counter() - start
    start = time.perf_counter()
    with compute(model, "bf16"):
        low = tsft_sweep(engine, pairs)
    low_s = time.perf_counter() - start
    diff = float((ours - theirs).abs().max())
    spread = float(ours.max() - ours.min())
    print(f"SmolLM2-135M, {len(pairs)} pairs x {ours.shape[2]} positions x {ours.shape[1]} layers x "
          f"{len(COMPONENTS)} components, {args.threads} threads: tsft {ours_s:.1f} s, TransformerLens "
          f"{theirs_s:.1f} s (float32); tsft bf16 {low_s:.1f} s ({ours_s / low_s:.2f}x float32), "
          f"max |bf16 - fp32| = {float((low - ours).abs().max()):.3f} of a {spread:.2f} range")
    print(f"max_abs_diff={diff:.0e} speedup={theirs_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
