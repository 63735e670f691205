"""Evaluation speed on the real model: tsft's greedy decoder against HF `generate`, SmolLM2-135M, bf16.

Both continue the same prompts (theorem-world test problems through SmolLM2's chat template) greedily
under bf16 autocast on the CPU, stopping a row at eos or at its finished "Answer: ..." line:

* hf   - `model.generate(do_sample=False)` in batches sorted by length and left-padded, with the
  answer-line stopping criterion (training.generation.hf_generate), at each of `--hf-batches`, on
  the first `--hf-n` problems (its rate per problem does not depend on how many there are); the
  best is the baseline.
* tsft - training.decoding.decode_greedy: a cache of slots, continuous batching, one-query
  attention as two batched matmuls, stops on token ids, the linear weights cast to bf16 once, at
  each of `--slots`, on all `--n` problems (continuous batching needs a queue: an evaluation of
  one checkpoint continues about 4,300).

Realistic lengths: by default the pretrained model is asked to name the theorem, apply it step by
step and end with an answer line (`--instruction theorem`: outputs of about a theorem-SFT
checkpoint's length, 60-300 tokens); `--model` takes a theorem-SFT checkpoint instead (no
instruction). The decode step's time is set beside the time of its linear layers alone at that
batch (bf16 weights), so the distance to the machine's limit shows. The last line:

    vs_hf_generate=<r>x problems_per_s=<p> tok_per_s=<t> agree=<a>

(vs_hf_generate: problems/s over HF's at its best batch; agree: the share of the `--hf-n` problems
whose graded answer - the extracted final answer - is the same under both). With more than one HF
batch size, each is also set against the best: how far bf16 alone moves HF's own answers, the bar
for `agree`. `--dump FILE` writes the problems whose texts differ. `--hf-fast` times HF's own fast paths
too (the static cache, with and without a compiled forward, and `generate_batch`'s continuous batching) on
the same problems. Needs the model in tsft's cache (`tsft models get smollm2-135m-instruct`).
With `--data` (a data folder: its test originals) and `--hf-n` equal to `--n`, it is also the agreement check
on every problem: each engine's accuracy is printed; with `--precision fp32` the exactness check (identical text
on every problem expected).
Usage: python bench/real_generate.py [--n 768] [--hf-n 128] [--threads 2] [--model PATH] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from tsft.models.decoding import DecodeStats, decode_greedy
from tsft.models.generation import hf_generate
from tsft.models.loading import load_model
from tsft.models.precision import autocast
from tsft.models.prompts import encode_prompt, prompt_format, prompt_text, set_prompt_format
from tsft.models.registry import get_model
from tsft.tasks.dataset import load_dataset
from tsft.tasks.grading import extract_answer, grade
from tsft.tasks.world.generate import WorldConfig, generate_split


def cpu_path() -> str:
    if torch.cpu._is_amx_tile_supported():
        return "AMX"
    return "AVX512-BF16" if torch.cpu._is_avx512_bf16_supported() else "no native bf16"


def linear_time(model, rows: int, repeats: int = 5) -> float:
    """Seconds one decode step's linear layers take alone at `rows` tokens, bf16 weights (the step's floor)."""
    weights = [m.weight.detach().to(torch.bfloat16) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    inputs = {w.shape[1]: torch.randn(rows, w.shape[1], dtype=torch.bfloat16) for w in weights}
    for w in weights:
        inputs[w.shape[1]] @ w.T
    start = time.perf_counter()
    for _ in range(repeats):
        for w in weights:
            inputs[w.shape[1]] @ w.T
    return (time.perf_counter() - start) / repeats


def agreement(texts_a: list[str], texts_b: list[str]) -> tuple[float, float]:
    """Shares of outputs whose graded answers are the same, and whose whole texts are."""
    pairs = list(zip(texts_a, texts_b, strict=True))
    return (sum(extract_answer(a) == extract_answer(b) for a, b in pairs) / len(pairs),
            sum(a == b for a, b in pairs) / len(pairs))


def hf_generate_batch(model, tokenizer, encoded: list[list[int]], max_new_tokens: int) -> list[str]:
    """transformers' own continuous batching (`generate_batch`, paged cache); it takes no stopping criterion, so a row
    stops at eos or `max_new_tokens` (a theorem-SFT checkpoint ends with eos after its answer line)."""
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    out = model.generate_batch(encoded, generation_config=config, warmup=False)
    order = sorted(out, key=lambda request: int(request.rsplit("_", 1)[-1]))  # ids are req_<input index>
    return [tokenizer.decode(out[r].generated_tokens, skip_special_tokens=True) for r in order]


def hf_fast_paths(model, tokenizer, prompts: list[str], encoded: list[list[int]], max_new_tokens: int, batch: int):
    """HF's fast paths on the same prompts: the static cache, the static cache with the forward compiled (inductor;
    the compile counted, as an evaluation would pay it), and `generate_batch`."""
    from transformers.generation.configuration_utils import CompileConfig

    def static() -> list[str]:
        return hf_generate(model, tokenizer, prompts, max_new_tokens, batch, static=True)

    yield f"static cache, batch {batch}", static
    compiled = CompileConfig(mode="default")
    compiled._compile_all_devices = True  # generate compiles only on accelerators unless told
    saved, model.generation_config.compile_config = model.generation_config.compile_config, compiled
    try:
        yield f"static cache compiled, batch {batch}", static
    finally:
        model.generation_config.compile_config = saved
    yield "generate_batch (its own batching)", lambda: hf_generate_batch(model, tokenizer, encoded, max_new_tokens)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=768, help="problems the decoder continues (theorem-world tests)")
    parser.add_argument("--hf-n", type=int, default=128, help="the first of them HF generate continues, per batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None, help="a theorem-SFT checkpoint (default: the pretrained model)")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--hf-batches", default="32,64,128")
    parser.add_argument("--slots", default="128,256")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"),
                        help="fp32: the exactness check (identical text expected; the speed is not the point)")
    parser.add_argument("--data", default=None, help="a data folder whose test originals are the prompts (default: "
                                                      "theorem-world tests of seed 11)")
    parser.add_argument("--hf-fast", action="store_true",
                        help="also time HF's fast paths (static cache, compiled, generate_batch) at the best batch on "
                             "the first --hf-n problems, each against HF generate's answers")
    parser.add_argument("--dump", default=None, help="write the problems whose texts differ (JSON lines: problem id, "
                                                     "answer, each engine's output) to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folder = args.model or get_model("smollm2-135m-instruct")
    model, tokenizer = load_model(folder)
    model.eval()
    fmt = prompt_format(tokenizer)
    if args.model is None:
        fmt = replace(fmt, system="none", instruction="theorem")
    set_prompt_format(tokenizer, fmt)
    problems = (load_dataset(args.data).split("test") if args.data else generate_split(WorldConfig(seed=11), "test",
                                                                                        args.n))[:args.n]
    prompts = [prompt_text(p, tokenizer) for p in problems]
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    print(f"{args.precision}; bf16 path: {cpu_path()}, {args.threads} threads, {len(prompts)} prompts "
          f"({min(map(len, encoded))}-{max(map(len, encoded))} tokens), model {folder}")

    hf, ours = {}, {}
    with autocast(args.precision, "cpu"):
        for batch in map(int, args.hf_batches.split(",")):
            hf[batch] = timed(lambda b=batch: hf_generate(model, tokenizer, prompts[:args.hf_n], args.max_new_tokens,
                                                          b))
            print(f"hf generate batch {batch}: {args.hf_n / hf[batch][1]:.2f} problems/s ({hf[batch][1]:.1f} s)")
        for slots in map(int, args.slots.split(",")):
            stats = DecodeStats()
            ours[slots] = (*timed(lambda s=slots, st=stats: decode_greedy(model, tokenizer, encoded,
                                                                          args.max_new_tokens, s, stats=st)), stats)
            print(f"tsft decoder {slots} slots: {len(prompts) / ours[slots][1]:.2f} problems/s ({ours[slots][1]:.1f} s;"
                  f" {stats.steps} steps at {stats.step_seconds / stats.steps * 1000:.0f} ms, mean busy slots "
                  f"{stats.mean_busy:.0f}; {stats.prefills} prefills, {stats.prefill_seconds:.1f} s)")

    hf_best = min(hf, key=lambda b: hf[b][1])
    our_best = min(ours, key=lambda s: ours[s][1])
    if args.hf_fast:
        with autocast(args.precision, "cpu"):
            for name, run in hf_fast_paths(model, tokenizer, prompts[:args.hf_n], encoded[:args.hf_n],
                                           args.max_new_tokens, hf_best):
                texts, seconds = timed(run)
                same, same_text = agreement(hf[hf_best][0], texts)
                print(f"hf {name}: {args.hf_n / seconds:.2f} problems/s ({seconds:.1f} s); graded "
                      f"answers agree with hf generate {same:.3f}, identical text {same_text:.3f}")
    (hf_texts, hf_s), (tokens, our_s, stats) = hf[hf_best], ours[our_best]
    texts = [tokenizer.decode(t, skip_special_tokens=True) for t in tokens[:args.hf_n]]
    new_tokens = sum(map(len, tokens))
    for name, outputs in (("hf generate", hf_texts), ("tsft decoder", texts)):
        right = sum(grade(extract_answer(o) or "", p.answer) for o, p in zip(outputs, problems, strict=False))
        print(f"{name} accuracy on the {args.hf_n}: {right / len(texts):.3f}")
    agree, identical = agreement(hf_texts, texts)
    for batch in sorted(set(hf) - {hf_best}):  # HF against itself: how far the batch alone moves bf16 answers
        same, same_text = agreement(hf[batch][0], hf_texts)
        print(f"hf generate batch {batch} vs batch {hf_best}: graded answers agree {same:.3f}, identical text "
              f"{same_text:.3f}")
    if args.dump:
        differing = [{"id": p.id, "answer": p.answer, "hf": a, "tsft": b}
                     for p, a, b in zip(problems, hf_texts, texts, strict=False) if a != b]
        Path(args.dump).write_text("".join(json.dumps(row) + "\n" for row in differing))
    floor = linear_time(model, our_best)
    hf_rate, our_rate = args.hf_n / hf_s, len(prompts) / our_s
    print(f"best: hf batch {hf_best}, tsft {our_best} slots; new tokens {new_tokens} (mean "
          f"{new_tokens / len(tokens):.0f}); on the {args.hf_n} both continued: identical text {identical:.3f}")
    step = stats.step_seconds / stats.steps
    loaded = " (the floor was measured under load: it exceeds the step, so it bounds nothing)" if floor > step else ""
    print(f"decode step at {our_best} slots: {step * 1000:.0f} ms vs its linear layers alone {floor * 1000:.0f} ms"
          f"{loaded}")
    print(f"vs_hf_generate={our_rate / hf_rate:.2f}x problems_per_s={our_rate:.2f} "
          f"tok_per_s={new_tokens / our_s:.0f} agree={agree:.3f}")


if __name__ == "__main__":
    main()
