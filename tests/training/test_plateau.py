"""Training to a plateau and the other stop rules: a planted held-out curve decides when a run stops and which
checkpoint it publishes; the token budget and the train-accuracy rule stop where they say; the validation split
and the curve files are what the periodic evaluation reads and writes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from tsft.tasks.build import build_synthetic
from tsft.tasks.world.generate import WorldConfig
from tsft.training.sft import encode_problems, train_sft
from tsft.training.trainer import Run, Trainer

from tests.training.conftest import fast_sft, tiny_model


def _trainer(tokenizer, dataset, out, accuracies: dict[int, float] | None = None, **settings) -> Trainer:
    torch.manual_seed(0)
    examples = encode_problems(dataset.train, tokenizer, "answer", 384, "train")
    run = Run(model=tiny_model(tokenizer, seed=4), tokenizer=tokenizer, examples=examples, out=out, card={},
              progress=False)
    if accuracies is not None:  # a planted held-out curve: accuracy at each evaluated step
        run.evaluate = lambda model, step: {"heldout_accuracy": accuracies[step]}
    return Trainer(run, fast_sft(schedule="constant", warmup_steps=0, lr=3e-3, **settings))


def test_a_plateau_stops_after_patience_and_publishes_the_best_checkpoint(tokenizer, dataset, tmp_path):
    curve = {2: 0.1, 4: 0.5, 6: 0.4, 8: 0.5, 10: 0.9, 12: 0.9}  # best at 4; 6 and 8 do not beat it
    card = _trainer(tokenizer, dataset, tmp_path / "plateau", curve, steps=12, eval_every=2, save_every=2,
                    patience=2, keep_checkpoints=1).fit()
    assert card["stopped"] == "plateau" and card["step"] == 4
    assert [e["step"] for e in card["metrics"]["evals"]] == [2, 4, 6, 8]  # never trained past step 8
    assert not (tmp_path / "plateau" / "training_state").exists()  # nothing resumes from an earlier best
    four = _trainer(tokenizer, dataset, tmp_path / "four", steps=4, eval_every=0, save_every=4).fit()
    assert four["step"] == 4
    published, reference = load_file(str(tmp_path / "plateau" / "model.safetensors")), load_file(
        str(tmp_path / "four" / "model.safetensors"))
    assert all(torch.equal(published[k], reference[k]) for k in reference)  # the best step's weights, exactly


def test_without_a_plateau_a_patient_run_trains_every_step(tokenizer, dataset, tmp_path):
    rising = {2: 0.1, 4: 0.2, 6: 0.3}
    card = _trainer(tokenizer, dataset, tmp_path / "run", rising, steps=6, eval_every=2, save_every=2,
                    patience=2).fit()
    assert card["stopped"] == "steps" and card["step"] == 6 and (tmp_path / "run" / "training_state").is_dir()


def test_the_token_budget_stops_within_one_batch_of_it_and_evaluates_there(tokenizer, dataset, tmp_path):
    flat = dict.fromkeys(range(1, 51), 0.5)  # a planted held-out curve at every step the run could stop at
    card = _trainer(tokenizer, dataset, tmp_path / "budget", flat, steps=50, eval_every=7, save_every=50,
                    max_target_tokens=200).fit()
    seen, per_step = card["metrics"]["target_tokens_seen"], card["metrics"]["target_tokens_seen"] / card["step"]
    assert card["stopped"] == "target_tokens" and 200 <= seen < 200 + 2 * per_step and card["step"] < 50
    steps = [e["step"] for e in card["metrics"]["evals"]]
    assert card["step"] % 7 != 0  # the budget falls between scheduled evaluations (else the test shows nothing)
    assert steps == sorted({*range(7, card["step"] + 1, 7), card["step"]})  # and the stopping step is evaluated
    assert card["metrics"]["evals"][-1]["target_tokens_seen"] == seen


def test_patience_needs_a_checkpoint_at_every_evaluation():
    with pytest.raises(ValueError, match="eval_every = save_every"):
        fast_sft(patience=2, eval_every=2, save_every=4)
    with pytest.raises(ValueError, match="train_eval_size"):
        fast_sft(stop_at_train_accuracy=0.9)


def test_the_periodic_evaluation_reads_validation_and_writes_the_curve(base_dir, tmp_path):
    data = tmp_path / "data"
    build_synthetic(WorldConfig(seed=0, n_train=64, n_test=16, n_val=12), data)
    config = fast_sft(steps=4, eval_every=2, save_every=2, eval_size=6, curve_size=3, curve_every=4,
                      train_eval_size=5, keep_checkpoints=3)
    card = train_sft(base_dir, data, tmp_path / "run", config, progress=False)
    assert card["eval_split"] == "val" and all("train_accuracy" in e for e in card["metrics"]["evals"])
    files = sorted((tmp_path / "run" / "curve").glob("*.parquet"))
    assert [f.name for f in files] == ["step-000004.parquet"]  # curve_every=4: not at step 2
    curve = pd.read_parquet(files[0])
    manifest = json.loads((data / "manifest.json").read_text())
    originals = [json.loads(line)["id"] for line in (data / "test.jsonl").read_text().splitlines()[:3]]
    assert set(curve.loc[curve["kind"] == "original", "problem_id"]) == set(originals)
    every = sum(json.loads(line)["original_id"] in originals for kind in manifest["counts"]["perturbed"]
                for line in (data / "perturbed" / f"{kind}.jsonl").read_text().splitlines())
    assert len(curve) == 3 + every and set(curve["step"]) == {4}
    assert not (tmp_path / "run" / "checkpoints").exists()  # the readings need no kept checkpoint


def test_each_evaluation_reports_one_line_with_the_best_so_far(tokenizer, dataset, tmp_path):
    curve = {2: 0.1, 4: 0.5, 6: 0.4, 8: 0.5}
    trainer = _trainer(tokenizer, dataset, tmp_path / "plateau", curve, steps=12, eval_every=2, save_every=2,
                       patience=2, keep_checkpoints=1, log_every=1)
    lines: list[str] = []
    trainer.run.report = lines.append
    card = trainer.fit()
    losses = dict(card["metrics"]["loss"])
    best = {2: (0.1, 2), 4: (0.5, 4), 6: (0.5, 4), 8: (0.5, 4)}  # ties keep the earlier step
    assert lines == [f"plateau: step {s}/12, loss {losses[s]:.4f}, held-out accuracy {a:.3f} "
                     f"(best {best[s][0]:.3f} at step {best[s][1]})" for s, a in curve.items()]
