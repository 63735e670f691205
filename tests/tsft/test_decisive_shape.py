"""The real preset's shape end to end on a tiny base: every stage the decisive run reaches only after a day of
training (rates chosen on validation, runs stopped at their plateau, the memorization, token-matched and step-cap
controls, every test original with every perturbation, fp32 patching of several seeds), run here in minutes so a
change that breaks one of them fails CI instead of a long run."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from tsft.presets import preset
from tsft.reproduce import reproduce
from tsft.stages import Inputs

VERDICTS = {"supported", "not supported", "inconclusive"}


def decisive_shape():
    """The real preset with a tiny base trained here and every size cut down; its flags and rules unchanged."""
    return replace(preset("real"), name="decisive-shape", n_train=240, n_test=200, base_preset="tiny", base_steps=20,
                   base_model=None, seeds=(0, 1), arm_seeds=(("answer-full", 2), ("solution-full", 2),
                                                              ("theorem-full", 2)),
                   sft_steps=24, sft_batch=8, sft_micro_batch=4, patience=1, eval_every=4, eval_size=8,
                   curve_size=6, curve_every=8, lr_grid=(("full", (1e-3, 2e-3)), ("mlp", (3e-3,)), ("attn", (3e-3,))),
                   lr_trial_steps=4, memorize_steps=12, n_val=24, patch_limit=8, patch_seeds=2,
                   probe_limit=200, transplant_limit=6, jobs=2)


def card(path) -> dict:
    return json.loads((path / "run_card.json").read_text())


def lines(path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


@pytest.mark.slow
def test_the_real_presets_shape_runs_every_stage(tmp_path):
    run, shape = tmp_path / "run", decisive_shape()
    reproduce(Inputs(run), shape, png=False, log=lambda _: None)
    meta = json.loads((run / "reproduce.json").read_text())
    assert set(meta["stages"]) >= {"lr", "sft", "sft-controls", "eval", "patch", "das", "deltas", "analysis"}

    for arm in ("answer-full", "solution-full", "theorem-full", "theorem-mlp", "theorem-attn"):
        found = (run / "lr").glob(f"{arm}-lr*/run_card.json")
        trials = {float(c.parent.name.rsplit("-lr", 1)[1]): c.parent for c in found}
        scores = {lr: card(folder)["metrics"]["evals"][-1]["heldout_accuracy"] for lr, folder in trials.items()}
        chosen = card(run / "sft" / f"{arm}-s0")["config"]["lr"]
        assert scores[chosen] == max(scores.values())  # rates chosen on validation, from the trials
    for folder in (run / "sft").glob("*-s*"):
        result = card(folder)
        evals = result["metrics"]["evals"]
        assert result["eval_split"] == "val" and result["status"] == "complete"
        best = max(evals, key=lambda e: e["heldout_accuracy"])["heldout_accuracy"]
        kept = next(e for e in evals if e["step"] == result["step"])  # the checkpoint kept is the plateau's best
        assert kept["heldout_accuracy"] == best and evals[-1]["step"] <= result["step"] + shape.patience * 4

    solution, tokens = card(run / "sft" / "solution-full-s0"), card(run / "sft-controls" / "theorem-full-s0-tokens")
    budget = next(e["target_tokens_seen"] for e in solution["metrics"]["evals"] if e["step"] == solution["step"])
    assert tokens["config"]["max_target_tokens"] == budget  # solution-SFT's target tokens to its plateau
    per_step = card(run / "sft" / "theorem-full-s0")["metrics"]["evals"][0]
    per_step = per_step["target_tokens_seen"] / per_step["step"]
    assert budget <= tokens["metrics"]["target_tokens_seen"] < budget + 2 * per_step  # stopped within a step
    assert tokens["metrics"]["evals"][-1]["step"] == tokens["step"]  # with its validation accuracy there
    assert card(run / "sft-controls" / "answer-full-s0-memorize")["config"]["stop_at_train_accuracy"] == 0.9
    long = card(run / "sft-controls" / "theorem-mlp-s0-long")  # to the step cap, its best checkpoint published
    evals = long["metrics"]["evals"]
    assert long["stopped"] == "steps" and evals[-1]["step"] == shape.sft_steps
    assert long["step"] == max(evals, key=lambda e: (e["heldout_accuracy"], -e["step"]))["step"]

    data = run / "data"
    every = lines(data / "test.jsonl") + sum(lines(f) for f in (data / "perturbed").glob("*.jsonl"))
    evaluated = sorted(p.parent.name for p in (run / "eval").glob("*/predictions.parquet"))
    assert len(evaluated) == 8 + 1 + 2 + 1  # every final checkpoint, memorization, token-matched per seed, the cap
    for name in evaluated:  # every test original with every perturbation of it, and the first training problems
        assert len(pd.read_parquet(run / "eval" / name / "predictions.parquet")) == every, name
        assert len(pd.read_parquet(run / "eval" / name / "train_predictions.parquet")) == 200, name
    assert pd.read_parquet(run / "tables" / "training.parquet")["train_accuracy"].notna().all()

    for model in ("theorem-full-s0", "theorem-full-s1", "answer-full-s0", "answer-full-s1", "base"):
        request = json.loads((run / "patch" / model / "request.json").read_text())
        assert request["precision"] == "fp32" and request["pair_type"] == "theorem_swap", model
    claims = pd.read_parquet(run / "tables" / "claims.parquet").set_index("claim")
    assert list(claims.index) == ["C1", "C2", "C3", "C4"] and set(claims["verdict"]) <= VERDICTS
    assert claims.loc["C4", "n_seeds"] == 2  # theorem-full's patched seeds
    readings = set(pd.read_parquet(run / "tables" / "readings.parquet")["reading"])
    assert readings == {"final", "matched", "ood_peak"}
    for table in ("effective_robustness", "deltas", "lens", "erasure", "shares", "training", "budget", "lr_trials"):
        assert not pd.read_parquet(run / "tables" / f"{table}.parquet").empty, table
    das = json.loads((run / "das" / "theorem-full-s0" / "request.json").read_text())
    assert das["precision"] == "fp32" and das["request"]["scan"]  # (a tiny base answers nothing: no example to fit)
