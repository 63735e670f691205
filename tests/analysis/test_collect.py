"""Gathering results from folders: run cards, evaluations of final and intermediate checkpoints, linked trees."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.collect import collect, model_facts

from tests.analysis.conftest import predictions_for


def write_run(folder, name: str, steps: int = 100, curve=((50, 0.2), (100, 0.4))):
    folder.mkdir(parents=True)
    card = {"kind": "sft", "name": name, "status": "complete", "step": steps,
            "config": {"target": name.split("-")[0], "params": name.split("-")[1], "seed": 0, "steps": steps},
            "metrics": {"evals": [{"step": s, "heldout_accuracy": a} for s, a in curve], "tokens_seen": 1000}}
    (folder / "run_card.json").write_text(json.dumps(card))
    (folder / "checkpoints" / "step-000050").mkdir(parents=True)
    (folder / "checkpoints" / "step-000050" / "run_card.json").write_text(json.dumps({**card, "status": None}))


def write_eval(folder, model_folder, name: str, step: int | None, correct):
    folder.mkdir(parents=True)
    frame = predictions_for(name, np.asarray(correct, float), {}).drop(columns=["step", "final"])
    frame.to_parquet(folder / "predictions.parquet")
    request = {"kind": "eval", "model": str(model_folder), "name": name, "step": step, "data": "/nowhere",
               "config": {"target": "theorem", "params": "full", "seed": 0}}
    (folder / "request.json").write_text(json.dumps(request))


def test_collect_reads_cards_curves_and_final_and_intermediate_evaluations(tmp_path):
    run = tmp_path / "sft" / "theorem-full-s0"
    write_run(run, "theorem-full-s0")
    write_eval(tmp_path / "eval" / "theorem-full-s0", run, "theorem-full-s0", 100, [1, 0])
    write_eval(tmp_path / "eval-matched" / "x", run / "checkpoints" / "step-000050", "theorem-full-s0", 50, [0, 0])
    results = collect(tmp_path)
    assert list(results.models["model"]) == ["theorem-full-s0"]  # the checkpoint's own card is not a model
    assert results.models.iloc[0]["target"] == "theorem" and results.models.iloc[0]["tokens_seen"] == 1000
    assert list(results.curves["step"]) == [50, 100]
    by_step = results.predictions.groupby("step")["final"].first().to_dict()
    assert by_step == {50: False, 100: True}


def test_collect_follows_linked_folders_and_old_evaluations_without_a_request(tmp_path):
    real = tmp_path / "elsewhere" / "answer-full-s1"
    write_run(real, "answer-full-s1", steps=80)
    old = tmp_path / "elsewhere" / "eval-old"
    old.mkdir()
    predictions_for("answer-full-s1", np.array([1.0, 1.0]), {}).drop(columns=["step", "final"]).to_parquet(
        old / "predictions.parquet")
    root = tmp_path / "results"
    root.mkdir()
    (root / "run").symlink_to(real, target_is_directory=True)
    (root / "eval").symlink_to(old, target_is_directory=True)
    results = collect(root)
    assert list(results.models["model"]) == ["answer-full-s1"]
    assert set(results.predictions["step"]) == {80} and results.predictions["final"].all()


def test_variant_runs_are_kept_apart_from_their_arms_seeds(tmp_path):
    from tsft.analysis.accuracy import matched_steps, with_facts

    for name, variant in (("answer-full-s0", None), ("theorem-full-s0", None), ("answer-full-s0-memorize", "memorize"),
                          ("theorem-full-lr0.0004", "lr-trial")):
        run = tmp_path / "sft" / name
        write_run(run, name, curve=((50, 0.9), (100, 0.95)) if variant else ((50, 0.2), (100, 0.4)))
        card = json.loads((run / "run_card.json").read_text())
        (run / "run_card.json").write_text(json.dumps({**card, "variant": variant}))
        write_eval(tmp_path / "eval" / name, run, name, 100, [1, 0])
    results = collect(tmp_path)
    assert dict(zip(results.models["model"], results.models["variant"], strict=True))["answer-full-s0-memorize"] \
        == "memorize"
    assert set(with_facts(results.predictions, results.models)["model"]) == {"answer-full-s0", "theorem-full-s0"}
    matched = matched_steps(results.curves, results.models)
    assert set(matched["model"]) == {"answer-full-s0", "theorem-full-s0"} and set(matched["matched_to"]) == {0.4}


def test_model_facts_fall_back_to_the_run_name():
    facts = model_facts({"name": "solution-mlp_0-2-s3"}, "/x")
    assert (facts["target"], facts["params"], facts["seed"]) == ("solution", "mlp_0-2", 3)


def test_missing_folder_and_broken_request_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such results folder"):
        collect(tmp_path / "nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "request.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad/request\.json"):
        collect(tmp_path)
    (tmp_path / "bad" / "request.json").unlink()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run_card.json").write_text('{"status": "compl')  # truncated by a kill
    named = r"run/run_card\.json:1: invalid JSON \(Unterminated string starting at; column 12\)"
    with pytest.raises(ValueError, match=named):
        collect(tmp_path)


def test_predictions_graded_while_training_are_intermediate_steps(tmp_path):
    run = tmp_path / "sft" / "theorem-full-s0"
    write_run(run, "theorem-full-s0")
    (run / "curve").mkdir()
    for step, correct in ((50, [0, 0]), (100, [1, 0])):
        frame = predictions_for("theorem-full-s0", np.asarray(correct, float), {}).drop(columns=["step", "final"])
        frame.assign(step=step).to_parquet(run / "curve" / f"step-{step:06d}.parquet")
    write_eval(tmp_path / "eval" / "theorem-full-s0", run, "theorem-full-s0", 100, [1, 1])
    predictions = collect(tmp_path).predictions
    by_kind = predictions.groupby(["step", "final"])["correct"].mean().to_dict()
    assert by_kind == {(50, False): 0.0, (100, True): 1.0}  # at the final step the final evaluation's rows only


@pytest.mark.parametrize(("target", "params", "seed"), [
    ("theorem", "mlp:0-2", 3), ("answer", "lora:gate_proj,up_proj", 0), ("solution", "random:1", 12),
    ("theorem", "full", 0)])
def test_run_names_are_written_and_read_back_by_one_module(target, params, seed):
    from tsft.models.cards import parse_run_name, run_name

    parsed = parse_run_name(run_name(target, params, seed))
    assert parsed == {"target": target, "params": params.replace(":", "_").replace(",", "+"), "seed": seed}
    assert parse_run_name("theorem-full-lr0.0004") is None and parse_run_name("base") is None


def test_curve_rows_at_the_final_step_give_way_to_the_final_evaluation():
    from tsft.analysis.collect import _with_steps

    curve = predictions_for("answer-full-s0", np.ones(3), {"paraphrase": np.ones(3)}, step=100, final=False)
    earlier = predictions_for("answer-full-s0", np.zeros(3), {}, step=50, final=False)
    last = predictions_for("answer-full-s0", np.ones(10), {"paraphrase": np.zeros(10)}, step=100)
    models = pd.DataFrame([{"model": "answer-full-s0", "steps": 100}])
    frame = _with_steps([curve, earlier, last], models)
    at_100 = frame[frame["step"] == 100]
    assert at_100["final"].all() and at_100.groupby(["kind", "original_id"]).size().max() == 1
    assert len(at_100) == 20 and len(frame[frame["step"] == 50]) == 3  # earlier curve steps are kept
