"""Activation-dataset capture: speed against one forward per problem, and memory against one shard.

Both capture `resid_post` of every layer at the last prompt token for the same synthetic test
problems and their perturbed versions, on one random model of a preset. The baseline runs each
problem alone with `output_hidden_states=True` (what a probe script usually does); tsft runs
length-sorted, right-padded batches through patching's capture primitive and writes shards.
Memory is the peak of Python/numpy allocations (tracemalloc) during the capture alone, with
`--shard-rows` rows per shard, against one shard holding every row: the first stays flat as
problems grow, the second grows with them.
The last line:

    max_abs_diff=2e-06 speedup=9.1x peak_mb=1.2 one_shard_peak_mb=4.5

Usage: python bench/probe_capture.py [--preset small] [--originals 200] [--shard-rows 256] [--threads 1]
       [--device cpu|cuda] [--shape llama-1b] [--model smollm2-135m-instruct | HF folder]
(`--model`: a real model instead of a random one, e.g. SmolLM2 from tsft's cache, float32.)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from tsft.models.loading import build_model, load_model, reference_shape
from tsft.models.prompts import encode_prompt, prompt_for
from tsft.models.registry import REGISTRY, get_model
from tsft.models.tokenizer import world_tokenizer
from tsft.probes.capture import activation_dataset, dataset_rows
from tsft.tasks.build import build_synthetic
from tsft.tasks.dataset import load_dataset
from tsft.tasks.world.generate import WorldConfig


def one_by_one(model, tokenizer, problems) -> np.ndarray:
    """[rows, layers, width]: resid_post at the last prompt token, one unpadded forward per problem."""
    out = []
    with torch.inference_mode():
        for problem in problems:
            ids = torch.tensor([encode_prompt(tokenizer, prompt_for(problem.text, tokenizer))], device=model.device)
            hidden = model(ids, output_hidden_states=True).hidden_states
            out.append(torch.stack([h[0, -1] for h in hidden[1:]]).float().cpu().numpy())
    return np.stack(out)


def tsft_capture(model, tokenizer, problems, rows, folder: Path, shard_rows: int):
    """(store, features): capture only; reading the cache back is left out of the measurement."""
    sites = [f"blocks.{layer}.resid_post" for layer in range(model.config.num_hidden_layers)]
    return activation_dataset(model, tokenizer, problems, rows, sites, ["last"], folder, shard_rows=shard_rows,
                              progress=False)


def measured(fn, *args):
    tracemalloc.start()
    start = time.perf_counter()
    value = fn(*args)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return value, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--originals", type=int, default=200)
    parser.add_argument("--shard-rows", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", choices=["llama-1b"], help="A random model of a real checkpoint's shape.")
    parser.add_argument("--model", help="A `tsft models` name or a local HF folder (its own tokenizer).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model:
        folder = get_model(args.model, log=lambda _: None) if args.model in REGISTRY else args.model
        model, tokenizer = load_model(folder, dtype=torch.float32)
    else:
        tokenizer = world_tokenizer()
        model = reference_shape(args.shape, tokenizer) if args.shape else build_model(args.preset, tokenizer,
                                                                                      "llama", 0)
    model = model.to(args.device).eval()
    with tempfile.TemporaryDirectory() as tmp:
        build_synthetic(WorldConfig(seed=0, n_train=8, n_test=args.originals), Path(tmp) / "data")
        problems, rows = dataset_rows(load_dataset(Path(tmp) / "data"))
        base, base_s, _ = measured(one_by_one, model, tokenizer, problems)
        # The final layer's hidden_states entry has the final norm applied; compare the layers before it.
        (store, features), ours_s, peak = measured(tsft_capture, model, tokenizer, problems, rows, Path(tmp) / "a",
                                                   args.shard_rows)
        _, _, one_peak = measured(tsft_capture, model, tokenizer, problems, rows, Path(tmp) / "b", len(rows))
        ours = np.stack([store.load(f) for f in features], axis=1)
    diff = float(np.abs(ours[:, :-1] - base[:, :-1]).max())
    print(f"{len(rows)} rows x {model.config.num_hidden_layers} layers: one-by-one {base_s:.2f} s, tsft {ours_s:.2f} s")
    print(f"max_abs_diff={diff:.0e} speedup={base_s / ours_s:.1f}x peak_mb={peak:.1f} one_shard_peak_mb={one_peak:.1f}")


if __name__ == "__main__":
    main()
