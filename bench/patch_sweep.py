"""Patching speed: tsft's batched sweep against TransformerLens's `get_act_patch_mlp_out`, same process.

Both run the full layer x position `mlp_out` denoising sweep (clean into corrupt) on the same
tiny random Llama and the same equal-length theorem-swap pairs, scored by the logit difference
between the clean and the corrupt continuation at the last position, averaged over pairs. TL's
helper runs one forward per (layer, position) on the whole batch of pairs; tsft stacks every
(pair, layer, position) condition into micro-batches of one forward each. Rounds alternate so
machine noise hits both alike. The last line is the agreement and the speed ratio:

    max_abs_diff=3e-07 speedup=6.20x

`--baseline naive` replaces TransformerLens by the same algorithm written in plain torch (one
forward per layer x position, a raw forward hook): the baseline on machines without
TransformerLens, such as the lent GPU (`--device cuda`).

Usage: python bench/patch_sweep.py [--preset tiny] [--pairs 8] [--rounds 3] [--threads 1]
       [--baseline tl|naive] [--device cpu|cuda] [--shape llama-1b]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections import defaultdict

import torch
from tsft.models.loading import build_model, reference_shape
from tsft.models.tokenizer import world_tokenizer
from tsft.patching.activation import patch_sweep
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import BridgeEngine, HooksEngine
from tsft.patching.pairs import prepare_pairs
from tsft.tasks.pairs import theorem_swap_pairs
from tsft.tasks.world.generate import WorldConfig, generate_split


def same_length_pairs(tokenizer, n: int, target: str = "theorem"):
    """The largest group of theorem-swap pairs sharing one token length (TL's helper needs one batch), each with
    a wrong token for the logit difference."""
    problems = generate_split(WorldConfig(seed=0), "test", 200)
    pairs, _ = prepare_pairs(theorem_swap_pairs(problems), tokenizer, target)
    groups = defaultdict(list)
    for pair in pairs:
        if pair.wrong is not None:
            groups[len(pair.clean_ids)].append(pair)
    return max(groups.values(), key=len)[:n]


def tsft_sweep(engine, pairs) -> torch.Tensor:
    """[layers, positions] mean logit difference after patching, from tsft's batched loop."""
    rows = patch_sweep(engine, pairs, PatchRequest(components=("mlp_out",), positions="each", memory_mb=256))
    n_layers, length = engine.model.config.num_hidden_layers, len(pairs[0].clean_ids)
    out = torch.zeros(n_layers, length, dtype=torch.float64)
    for row in rows:
        out[row["layer"], int(row["position"])] += row["value"] / len(pairs)
    return out


def tl_sweep(bridge, pairs, helper: str = "get_act_patch_mlp_out") -> torch.Tensor:
    """TransformerLens's `patching.<helper>` over the pair batch, scored by the mean logit difference."""
    from transformer_lens import patching

    clean = torch.tensor([p.clean_ids for p in pairs])
    corrupt = torch.tensor([p.corrupt_ids for p in pairs])
    right = torch.tensor([p.right for p in pairs])
    wrong = torch.tensor([p.wrong for p in pairs])
    rows = torch.arange(len(pairs))

    def logit_diff(logits):
        last = logits[:, -1]
        return (last[rows, right] - last[rows, wrong]).mean()

    _, cache = bridge.run_with_cache(clean)
    with torch.inference_mode():
        return getattr(patching, helper)(bridge, corrupt, cache, logit_diff).double()


def naive_sweep(model, pairs) -> torch.Tensor:
    """TL's algorithm in plain torch: for each (layer, position) one forward over all pairs."""
    device = next(model.parameters()).device
    clean = torch.tensor([p.clean_ids for p in pairs], device=device)
    corrupt = torch.tensor([p.corrupt_ids for p in pairs], device=device)
    right = torch.tensor([p.right for p in pairs], device=device)
    wrong = torch.tensor([p.wrong for p in pairs], device=device)
    rows = torch.arange(len(pairs), device=device)
    layers = model.model.layers
    out = torch.zeros(len(layers), clean.shape[1], dtype=torch.float64)
    with torch.inference_mode():
        for layer, block in enumerate(layers):
            saved: dict = {}
            handle = block.mlp.register_forward_hook(lambda m, a, o, saved=saved: saved.__setitem__("clean", o))
            model(clean)
            handle.remove()
            for position in range(clean.shape[1]):
                def patch(m, a, o, p=position, saved=saved):
                    o = o.clone()
                    o[:, p] = saved["clean"][:, p]
                    return o
                handle = block.mlp.register_forward_hook(patch)
                last = model(corrupt).logits[:, -1].float()
                handle.remove()
                out[layer, position] = float((last[rows, right] - last[rows, wrong]).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", choices=("tl", "naive"), default="tl")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", default=None, help="llama-1b: a Llama-3.2-1B-shaped random model (GPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokenizer = world_tokenizer(sample=200)
    if args.shape:
        model = reference_shape(args.shape, tokenizer)
    else:
        model = build_model(args.preset, tokenizer, "llama", seed=0)
    model.set_attn_implementation("eager")
    model.to(args.device).eval()
    pairs = same_length_pairs(tokenizer, args.pairs)
    engine = HooksEngine(model)
    if args.baseline == "tl":
        bridge = BridgeEngine(copy.deepcopy(model), tokenizer).bridge
        baseline, label = (lambda: tl_sweep(bridge, pairs)), "TransformerLens"
    else:
        baseline, label = (lambda: naive_sweep(model, pairs)), "naive hooks"
    tsft_sweep(engine, pairs), baseline()  # warm-up: first-call allocations off the clock
    timings = {"tsft": 0.0, "baseline": 0.0}
    for _ in range(args.rounds):
        start = time.perf_counter()
        ours = tsft_sweep(engine, pairs)
        timings["tsft"] += time.perf_counter() - start
        start = time.perf_counter()
        theirs = baseline()
        timings["baseline"] += time.perf_counter() - start
    diff = float((ours - theirs).abs().max())
    print(f"{len(pairs)} pairs x {ours.shape[1]} positions x {ours.shape[0]} layers on {args.device}; tsft "
          f"{timings['tsft'] / args.rounds:.3f} s, {label} {timings['baseline'] / args.rounds:.3f} s per sweep")
    print(f"max_abs_diff={diff:.0e} speedup={timings['baseline'] / timings['tsft']:.2f}x")


if __name__ == "__main__":
    main()
