"""Generation-based evaluation: accuracy on original and perturbed problems, with bootstrap CIs.

For each split (the test originals, then every perturbed/<kind>) the model writes a greedy
answer to the same prompt format it was trained on; `tasks.grade` compares the extracted final
answer with the reference. For theorem-style outputs the table also records whether the first
theorem the output names is the problem's first theorem.

`request.json` records the model folder, its run card's name, step and config, and the request.
Per-problem rows: model, split, kind, problem_id, original_id, theorem, reference, prediction,
output, correct, named_theorem, theorem_named_first. The summary gives, per split/kind, n,
accuracy and a 95% percentile bootstrap CI over problems (2000 resamples, seeded).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from tsft.models.cards import Checkpoint
from tsft.models.generation import DECODER_SLOTS, greedy_generate
from tsft.models.loading import load_model
from tsft.models.placement import Placement
from tsft.models.precision import compute
from tsft.models.prompts import (
    PromptFormat,
    as_shots,
    encode_prompt,
    few_shot,
    prompt_format,
    prompt_text,
    set_prompt_format,
)
from tsft.models.provenance import save_tables
from tsft.models.targets import named_theorem, same_theorem
from tsft.tasks.dataset import load_dataset
from tsft.tasks.grading import extract_answer, grade
from tsft.tasks.io import refuse_existing
from tsft.tasks.schema import Problem

TARGET_NEW_TOKENS = {"answer": 24, "solution": 160, "theorem": 320}


def bootstrap_ci(values: Sequence[float], resamples: int = 2000, seed: int = 0, level: float = 0.95
                 ) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (NaNs when there are no values)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def grade_outputs(problems: Sequence[Problem], outputs: Sequence[str], model: str, split: str, kind: str,
                  original_ids: Sequence[str] | None = None) -> list[dict]:
    rows = []
    for i, (problem, output) in enumerate(zip(problems, outputs, strict=True)):
        prediction = extract_answer(output)
        named = named_theorem(output)
        first = problem.theorems[0].name if problem.theorems else None
        rows.append({
            "model": model, "split": split, "kind": kind, "problem_id": problem.id,
            "original_id": original_ids[i] if original_ids else problem.id,
            "theorem": problem.theorem_ids[0] if problem.theorems else None,
            "reference": problem.answer, "prediction": prediction, "output": output,
            "correct": prediction is not None and grade(prediction, problem.answer),
            "named_theorem": named,
            "theorem_named_first": None if first is None or named is None else same_theorem(named, first),
        })
    return rows


def check_context(model, tokenizer, problems: Sequence[Problem], prompts: Sequence[str], max_new_tokens: int) -> None:
    """Refuse, before any generation, a prompt that with the generation budget does not fit the model's context
    (positions past it are not what the model was trained on, and an unbounded prompt can exhaust memory), naming
    the problem. Prompts with a figure are left to the vision model, which counts its image tokens itself."""
    limit = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    if not limit:
        return
    for problem, prompt in zip(problems, prompts, strict=True):
        # a token covers at least one byte of text (beside a few special tokens): only then can it be too long
        if problem.image is None and len(prompt.encode("utf-8")) + 16 + max_new_tokens > limit:
            length = len(encode_prompt(tokenizer, prompt))
            if length + max_new_tokens > limit:
                raise ValueError(f"problem {problem.id}: its prompt is {length} tokens and up to {max_new_tokens} "
                                 f"are generated, beyond the model's {limit} positions (shorten the problem or "
                                 "lower --max-new-tokens)")


def evaluate_problems(model, tokenizer, problems: Sequence[Problem], max_new_tokens: int,
                      batch_size: int = DECODER_SLOTS, progress: bool = False) -> list[str]:
    prompts = [prompt_text(p, tokenizer) for p in problems]
    check_context(model, tokenizer, problems, prompts, max_new_tokens)
    return greedy_generate(model, tokenizer, prompts, max_new_tokens, batch_size, progress,
                           images=[p.image for p in problems])


def evaluate_splits(model, tokenizer, splits: Sequence[Sequence[Problem]], max_new_tokens: int,
                    batch_size: int = DECODER_SLOTS, progress: bool = False) -> list[list[str]]:
    """The outputs of each split's problems, all generated in one run of the decoder (so its batch stays full
    across splits)."""
    flat = [problem for problems in splits for problem in problems]
    outputs = iter(evaluate_problems(model, tokenizer, flat, max_new_tokens, batch_size, progress))
    return [[next(outputs) for _ in problems] for problems in splits]


def splits_accuracy(model, tokenizer, splits: Sequence[tuple[str, Sequence[Problem]]], max_new_tokens: int,
                    batch_size: int = DECODER_SLOTS) -> list[dict]:
    """Generate and grade (kind, problems) splits: per split {kind, n, accuracy, names_a_theorem} (the share of
    outputs naming a theorem), the rows every weight intervention (transplant, restore) reports."""
    rows = []
    outputs = evaluate_splits(model, tokenizer, [problems for _, problems in splits], max_new_tokens, batch_size)
    for (kind, problems), said in zip(splits, outputs, strict=True):
        graded = grade_outputs(problems, said, "", "", kind)
        n = max(len(graded), 1)
        rows.append({"kind": kind, "n": len(graded), "accuracy": sum(r["correct"] for r in graded) / n,
                     "names_a_theorem": sum(r["named_theorem"] is not None for r in graded) / n})
    return rows


def accuracy(model, tokenizer, problems: Sequence[Problem], max_new_tokens: int) -> float:
    outputs = evaluate_problems(model, tokenizer, problems, max_new_tokens)
    rows = grade_outputs(problems, outputs, "", "", "")
    return sum(r["correct"] for r in rows) / max(len(rows), 1)


def summarize(frame, seed: int = 0):
    """One row per (model, split, kind): n, accuracy, 95% bootstrap CI, theorem-named-first rate."""
    import pandas as pd

    rows = []
    for (model, split, kind), group in frame.groupby(["model", "split", "kind"], sort=False):
        low, high = bootstrap_ci(group["correct"].astype(float).tolist(), seed=seed)
        named = group["theorem_named_first"].dropna()
        rows.append({"model": model, "split": split, "kind": kind, "n": len(group),
                     "accuracy": float(group["correct"].mean()), "ci_low": low, "ci_high": high,
                     "theorem_named_first": float(named.astype(float).mean()) if len(named) else None})
    return pd.DataFrame(rows)


def eval_splits(dataset, names: Sequence[str] | None = None, limit: int | None = None,
                exclude: frozenset[str] = frozenset()) -> list[tuple[str, str, list[Problem], list[str]]]:
    """(split, kind, problems, original ids) for the test originals and every perturbed kind (`names`: only
    those). With `limit`, the first `limit` test originals not in `exclude` and every perturbed version of each
    of them, so paired estimates keep every perturbed row of the originals scored."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or none), got {limit}")
    kept = [p for p in dataset.test if p.id not in exclude][:limit]
    chosen = {p.id for p in kept}
    out = [("test", "original", kept, [p.id for p in kept])]
    for kind, perturbations in dataset.perturbed.items():
        mine = [p for p in perturbations if p.original_id in chosen]
        out.append(("perturbed", kind, [p.problem for p in mine], [p.original_id for p in mine]))
    if names:
        unknown = set(names) - {kind for _, kind, _, _ in out}
        if unknown:
            raise ValueError(f"unknown split(s) {sorted(unknown)}; have: {', '.join(k for _, k, _, _ in out)}")
        out = [entry for entry in out if entry[1] in names]
    return out


def run_eval(model_dir, data_dir, out, splits: Sequence[str] | None = None, limit: int | None = None, *,
             max_new_tokens: int | None = None, batch_size: int | None = None, overwrite: bool = False,
             progress: bool = True, placement: Placement = Placement(), system: str | None = None,
             instruction: str | None = None, shots: int = 0, shot_target: str = "solution", seed: int = 0,
             train: int = 0):
    """Evaluate a model folder on a data folder (placed as `placement` says: device, weight dtype, compute
    precision); write predictions.parquet, summary.csv and request.json to `out`. `train` > 0 also grades the
    first `train` training problems (what a fine-tune saw: how far it fits them) in the same decoder run, written
    apart to train_predictions.parquet so no test table ever mixes them in.

    `system` and `instruction` replace those of the checkpoint's own prompt format (training.prompts; e.g. an
    instruction for a pretrained model); `shots` > 0 shows that many solved examples in `shot_target` style,
    drawn (seeded) from the train split, or from the test originals when there is none (those are then left out
    of every split)."""
    import pandas as pd

    if train and shots:
        raise ValueError("train accuracy with shots would grade the shown training examples too: use one or the other")
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    checkpoint = Checkpoint.open(model_dir)
    model, tokenizer = load_model(checkpoint, device=placement.device, dtype=placement.torch_dtype())
    model.eval()
    card = checkpoint.card
    new_tokens = max_new_tokens or TARGET_NEW_TOKENS.get(checkpoint.target, max(TARGET_NEW_TOKENS.values()))
    dataset = load_dataset(data_dir)
    given = {"system": system, "instruction": instruction}
    fmt = replace(prompt_format(tokenizer), **{k: v for k, v in given.items() if v is not None})
    fmt, shown = _shots(dataset, fmt, shots, shot_target, seed)
    set_prompt_format(tokenizer, fmt)
    rows = []
    chosen = eval_splits(dataset, splits, limit, frozenset(shown))
    fitted = dataset.train[:train]
    with compute(model, placement.precision) as used:
        *outputs, fitted_outputs = evaluate_splits(model, tokenizer, [problems for _, _, problems, _ in chosen]
                                                   + [fitted], new_tokens, batch_size or DECODER_SLOTS, progress)
    for (split, kind, problems, originals), said in zip(chosen, outputs, strict=True):
        rows += grade_outputs(problems, said, checkpoint.name, split, kind, originals)
    frame = pd.DataFrame(rows)
    tables = {"predictions.parquet": frame}
    if train:
        tables["train_predictions.parquet"] = pd.DataFrame(grade_outputs(
            fitted, fitted_outputs, checkpoint.name, "train", "original", [p.id for p in fitted]))
    summary = summarize(frame)
    request = {"kind": "eval", "model": str(model_dir), "name": checkpoint.name,
               "model_kind": card.get("kind"), "step": card.get("step"), "config": card.get("config", {}),
               "data": str(data_dir), "splits": list(splits or []), "limit": limit, "max_new_tokens": new_tokens,
               "precision": used, "device": placement.device, "dtype": placement.dtype, "prompt": fmt.to_dict(),
               "shot_ids": sorted(shown),
               "shot_target": shot_target if shots else None, "train": len(fitted)}
    save_tables(out, {**tables, "summary.csv": summary}, request, overwrite, start)
    return frame, summary


def _shots(dataset, fmt: PromptFormat, k: int, target: str, seed: int) -> tuple[PromptFormat, set[str]]:
    """`fmt` with `k` solved examples, and the ids of test originals shown (to leave out of evaluation)."""
    if k <= 0:
        return fmt, set()
    pool = dataset.train or dataset.test
    try:
        chosen = few_shot(pool, k, seed)
        shots = as_shots(chosen, target)
    except ValueError as err:
        raise ValueError(f"{dataset.folder}: cannot show {k} {target}-style shots ({err})") from err
    shown = {p.id for p in chosen} if pool is dataset.test else set()
    return replace(fmt, shots=shots), shown


def majority_baseline(train: Sequence[Problem], test: Sequence[Problem]) -> float:
    """Accuracy of answering each test problem with its theorem's most common training answer."""
    from collections import Counter

    by_theorem: dict[tuple, Counter] = {}
    for problem in train:
        by_theorem.setdefault(problem.theorem_ids[:1], Counter())[problem.answer] += 1
    overall = Counter(p.answer for p in train)
    hits = 0
    for problem in test:
        counts = by_theorem.get(problem.theorem_ids[:1]) or overall
        hits += grade(counts.most_common(1)[0][0], problem.answer)
    return hits / max(len(test), 1)
