"""The real preset's plan (a fetched pretrained base, seeded arms, per-arm rates) and how `--data` folders that
cannot carry every target are cut to what they allow, or refused."""

from __future__ import annotations

import json

import pytest
from tsft.tasks.build import build_real
from tsft.tasks.io import DataError

from tsft import jobs
from tsft.presets import preset
from tsft.reproduce import fit_to_data
from tsft.stages import Inputs, plan

GIVENS = [("Ann has 3 apples and buys 4 more. How many apples?", ["3 + 4 = 7"], "7"),
          ("A box holds 5 pens; 2 are taken. How many are left?", ["5 - 2 = 3"], "3"),
          ("Tom reads 6 pages a day for 2 days. How many pages?", ["6 * 2 = 12"], "12")]


def _jsonl_folder(tmp_path, with_train: bool):
    rows = [{"question": text, "final": answer, "work": steps, "split": "train" if with_train and i < 2 else "test"}
            for i, (text, steps, answer) in enumerate(GIVENS)]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / ("annotated" if with_train else "test-only")
    build_real("jsonl", source, out, field_map="text=question,answer=final,steps=work,split=split")
    return out


def test_the_real_preset_fine_tunes_the_fetched_model_with_seeds_where_the_claims_need_them(tmp_path):
    real, inputs = preset("real"), Inputs(tmp_path)
    (base_job,) = plan("base", inputs, real)
    assert base_job.runner is jobs.fetch and base_job.kwargs == {"out": tmp_path / "base", "name": real.base_model}
    sft = {j.name: j.kwargs for j in plan("sft", inputs, real)}
    seeds: dict[str, list[int]] = {}
    for name in sft:
        arm, seed = name.rsplit("-s", 1)
        seeds.setdefault(arm, []).append(int(seed))
    assert seeds == {"answer-full": [0, 1, 2, 3, 4], "solution-full": [0, 1, 2, 3, 4],
                     "theorem-full": [0, 1, 2, 3, 4], "theorem-mlp": [0, 1, 2], "theorem-attn": [0, 1, 2]}
    order = [int(name.rsplit("-s", 1)[1]) for name in sft]
    assert order == sorted(order)  # seed by seed: a run stopped part-way has every arm's first seeds
    assert all(kw["preset"].system == "none" for kw in sft.values())
    assert plan("base", Inputs(tmp_path, model=tmp_path / "mine"), real) == []  # --model wins over the fetch
    config = jobs.sft_config("theorem", "full", 0, 2e-4, real)
    assert (config.patience, config.eval_every, config.save_every, config.curve_size) == (3, 50, 50, 64)
    assert plan("eval-matched", inputs, real) == [] and plan("eval-curve", inputs, real) == []  # from curve files


def test_learning_rates_come_from_the_trials_on_validation(tmp_path):
    real, inputs = preset("real"), Inputs(tmp_path)
    trials = plan("lr", inputs, real)
    assert {(j.kwargs["target"], j.kwargs["params"]) for j in trials} == {tuple(a.split("-")) for a in real.arms}
    assert {j.kwargs["lr"] for j in trials if j.kwargs["params"] == "mlp"} == set(dict(real.lr_grid)["mlp"])
    fallback = {j.name: j.kwargs["lr"] for j in plan("sft", inputs, real)}["theorem-mlp-s0"]
    assert fallback == real.lr_for("theorem", "mlp")  # no trial has run yet
    for job, (accuracy, loss) in zip([j for j in trials if j.name.startswith("theorem-mlp")],
                                     [(0.4, 0.3), (0.6, 0.2), (0.6, 0.1)], strict=True):
        job.output.parent.mkdir(parents=True)
        evals = [{"step": 100, "heldout_accuracy": accuracy, "heldout_loss": loss}]
        job.output.write_text(json.dumps({"status": "complete", "metrics": {"evals": evals}}))
    chosen = {j.name: j.kwargs["lr"] for j in plan("sft", inputs, real)}
    assert chosen["theorem-mlp-s0"] == chosen["theorem-mlp-s2"] == 8e-4  # best accuracy, then the lower loss


def test_the_controls_wait_for_their_budget(tmp_path):
    real, inputs = preset("real"), Inputs(tmp_path)
    capped = [f"theorem-mlp-s{seed}-long" for seed in real.seeds_of("theorem-mlp")]
    assert [j.name for j in plan("sft-controls", inputs, real)] == ["answer-full-s0-memorize", *capped]
    solution = tmp_path / "sft" / "solution-full-s1"
    solution.mkdir(parents=True)
    evals = [{"step": 50, "target_tokens_seen": 1000}, {"step": 100, "target_tokens_seen": 2000}]
    (solution / "run_card.json").write_text(json.dumps({"status": "complete", "step": 50,
                                                        "metrics": {"evals": evals, "target_tokens_seen": 3000}}))
    controls = {j.name: j.kwargs for j in plan("sft-controls", inputs, real)}
    capped = controls["theorem-full-s1-tokens"]
    assert capped["settings"]["max_target_tokens"] == 1000  # solution-SFT's, at its plateau
    assert (capped["target"], capped["params"], capped["seed"]) == ("theorem", "full", 1)
    assert controls["answer-full-s0-memorize"]["settings"]["stop_at_train_accuracy"] == 0.9
    assert "theorem-full-s0-tokens" not in controls  # its solution run has not finished
    long = controls["theorem-mlp-s2-long"]
    assert (long["target"], long["params"], long["seed"], long["variant"]) == ("theorem", "mlp", 2, "long")
    evaluations = real.sft_steps // real.eval_every
    assert long["settings"] == {"patience": evaluations + 1}  # no run of sft_steps reaches it: trained to the cap


def test_a_resumed_run_may_add_seeds_and_arms_to_the_cap_but_change_neither(tmp_path):
    from tsft.reproduce import check_meta

    real = preset("real").to_dict()
    saved = {"preset": {**real, "long_arms": []}, "inputs": {"model": None, "data": None, "seed": 0}}
    path = tmp_path / "reproduce.json"
    path.write_text(json.dumps(saved))
    assert check_meta(path, {**saved, "preset": real})  # a run made before the step-cap arms takes them on
    path.write_text(json.dumps({**saved, "preset": real}))
    for key, value in (("long_arms", ("theorem-full",)), ("seeds", (1, 2))):
        with pytest.raises(ValueError, match=rf"preset.{key}: .* \(a run is extended, never changed"):
            check_meta(path, {**saved, "preset": {**real, key: value}})


def test_an_arm_rate_overrides_its_selection_rate():
    real = preset("real")
    custom = real.__class__(**{**real.to_dict(), "lr": (("full", 1e-4), ("mlp", 3e-4), ("theorem-mlp", 5e-4))})
    assert (custom.lr_for("theorem", "mlp"), custom.lr_for("answer", "mlp"), custom.lr_for("answer", "attn")) == (
        5e-4, 3e-4, 1e-4)


def test_data_without_theorem_annotations_drops_the_theorem_arms_and_says_why(tmp_path):
    said = []
    fitted = fit_to_data(Inputs(tmp_path / "run", data=_jsonl_folder(tmp_path, True)), preset("real"), said.append)
    assert fitted.targets == ("answer", "solution")
    assert {t for t, _, _ in fitted.runs()} == {"answer", "solution"}
    assert len(said) == 1 and "'theorem'" in said[0] and "theorem annotations" in said[0]


def test_data_without_a_train_split_is_refused_naming_the_folder(tmp_path):
    folder = _jsonl_folder(tmp_path, False)
    with pytest.raises(DataError, match="no train split") as err:
        fit_to_data(Inputs(tmp_path / "run", data=folder), preset("real"))
    assert str(folder) in str(err.value)


def _finish(job, accuracy: float, loss: float = 0.1) -> None:
    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.output.write_text(json.dumps({"status": "complete", "metrics": {"evals": [
        {"step": 100, "heldout_accuracy": accuracy, "heldout_loss": loss}]}}))


def test_a_winning_grid_edge_is_looked_past_twice_at_most(tmp_path):
    real, inputs = preset("real"), Inputs(tmp_path)

    def answer_rates() -> list[float]:
        return sorted(j.kwargs["lr"] for j in plan("lr", inputs, real) if j.name.startswith("answer-full"))

    grid = sorted(dict(real.lr_grid)["full"])
    assert answer_rates() == grid
    for job in [j for j in plan("lr", inputs, real) if j.name.startswith("answer-full")][:2]:
        _finish(job, 0.5 if job.kwargs["lr"] == grid[0] else 0.3)
    assert answer_rates() == grid  # not every trial has finished: nothing is extended yet
    running = [j for j in plan("lr", inputs, real) if j.name.startswith("answer-full")][2]
    running.output.parent.mkdir(parents=True)
    running.output.write_text(json.dumps({"status": "running", "metrics": {"evals": []}}))
    assert answer_rates() == grid  # a trial stopped part-way is not a score
    accuracy = {grid[0]: 0.5, grid[1]: 0.3, grid[2]: 0.2}
    for step in range(3):
        for job in plan("lr", inputs, real):
            if job.name.startswith("answer-full") and not jobs.done(job.output):
                _finish(job, accuracy.get(job.kwargs["lr"], 0.6 + 0.1 * step))  # each new low edge wins again
    assert answer_rates() == [grid[0] / 4, grid[0] / 2, *grid]  # two extensions below, then it stops
    chosen = {j.name: j.kwargs["lr"] for j in plan("sft", inputs, real)}
    assert chosen["answer-full-s0"] == grid[0] / 4


def test_a_stage_that_plans_more_once_its_jobs_are_done_runs_them(tmp_path):
    from tsft.reproduce import StageError, replanned, run_stage
    from tsft.stages import Job, Stage

    def write(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("done")

    def planner(inputs, preset):
        first = Job("x", "first", write, tmp_path / "first", {"out": tmp_path / "first"})
        then = Job("x", "then", write, tmp_path / "then", {"out": tmp_path / "then"})
        return [first, then] if first.output.is_file() else [first]

    stage = Stage("x", "test", planner)
    planned = planner(None, None)
    run_stage(planned, 1, lambda job, seconds: None)
    for more in replanned(stage, None, None, planned):
        assert [j.name for j in more] == ["then"]
        run_stage(more, 1, lambda job, seconds: None)
    assert (tmp_path / "then").read_text() == "done"
    silent = Stage("y", "test", lambda inputs, preset: [Job("y", "lazy", print, tmp_path / "never", {})])
    with pytest.raises(StageError, match="lazy ran but wrote no never"):
        list(replanned(silent, None, None, silent.plan(None, None)))
