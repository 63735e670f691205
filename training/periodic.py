"""What an SFT run measures while it trains, at every evaluation step.

* **Held-out loss and accuracy** on the first `eval_size` problems of the validation split (the data's `val`:
  training templates and number ranges, texts seen in neither train nor test), or of the test split when the
  data has no validation split (`eval_split`). This is what a plateau (`patience`) and the matched-accuracy
  checkpoints are chosen on, so test is read only for reported numbers. The run card records which split it was.
* **Train accuracy** (`train_eval_size` > 0) on the first training problems: how well the run fits what it saw
  (the memorization arm stops once it does, `stop_at_train_accuracy`).
* **The curve** (`curve_size` > 0, every `curve_every` steps): greedy predictions for the first `curve_size` test
  originals and every perturbed version of each, written to `curve/step-NNNNNN.parquet` in the run folder with
  the same columns as `tsft eval`'s predictions plus `step`. The matched-accuracy, OOD-peak and
  effective-robustness readings are computed from these, so no intermediate checkpoint has to be kept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tsft.models.evaluate import TARGET_NEW_TOKENS, eval_splits, evaluate_splits, grade_outputs
from tsft.models.images import image_encoder
from tsft.tasks.io import atomic_file
from tsft.training.trainer import heldout_loss

CURVE = "curve"
"""The run folder's subfolder of curve predictions."""


def held_out_split(dataset, choice: str) -> str:
    """The split the periodic evaluation reads: `val` or `test` (auto: val when the data has one)."""
    if choice == "auto":
        return "val" if dataset.val else "test"
    dataset.split(choice)  # a missing split is an error naming the folder
    return choice


def make_evaluator(tokenizer, dataset, config, out: Path, encode: Callable) -> tuple[Callable, str]:
    """(evaluate(model, step) -> scores, the held-out split's name) for `config` (an SFTConfig); `encode` turns
    problems into examples as training does."""
    split = held_out_split(dataset, config.eval_split)
    problems = dataset.split(split)[:config.eval_size]
    examples = encode(problems, split)
    train_problems = dataset.train[:config.train_eval_size]
    curve = eval_splits(dataset, limit=config.curve_size) if config.curve_size else []
    new_tokens = TARGET_NEW_TOKENS[config.target]

    def accuracy(model, sets) -> list[list[dict]]:
        outputs = evaluate_splits(model, tokenizer, [problems for _, _, problems, _ in sets], new_tokens)
        return [grade_outputs(p, said, out.name, s, kind, originals)
                for (s, kind, p, originals), said in zip(sets, outputs, strict=True)]

    def evaluate(model, step: int) -> dict:
        loss = heldout_loss(model, examples, tokenizer.pad_token_id, images=image_encoder(tokenizer))
        sets = [(split, "original", problems, [p.id for p in problems])]
        if train_problems:
            sets.append(("train", "original", train_problems, [p.id for p in train_problems]))
        if curve and (not config.curve_every or step % config.curve_every == 0):
            sets += curve
        graded = accuracy(model, sets)
        scores = {"heldout_loss": round(loss, 6), "heldout_accuracy": _share(graded[0])}
        if train_problems:
            scores["train_accuracy"] = _share(graded[1])
        if len(graded) > 1 + bool(train_problems):
            _write_curve(out, step, [row for rows in graded[1 + bool(train_problems):] for row in rows])
        return scores

    return evaluate, split


def _share(rows: list[dict]) -> float:
    return round(sum(r["correct"] for r in rows) / max(len(rows), 1), 4)


def _write_curve(out: Path, step: int, rows: list[dict]) -> None:
    import pandas as pd

    path = out / CURVE / f"step-{step:06d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        pd.DataFrame([{**row, "step": step} for row in rows]).to_parquet(tmp, index=False)
