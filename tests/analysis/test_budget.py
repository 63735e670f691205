"""The training controls on planted results: the token-matched solution runs decide whether C2's lead over
solution-SFT is the budget, the memorization arm is read against answer-SFT at its plateau, and each run's
plateau is the step it published."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsft.analysis.budget import budget_table, lr_table, training_table, with_variants
from tsft.analysis.claims import claims_table
from tsft.analysis.collect import MODEL_COLUMNS, Results

from tests.analysis.conftest import bernoulli, predictions_for

N = 400


def planted(rates: dict[tuple[str, str | None], tuple[float, float]], seeds=(0, 1, 2), n: int = N) -> Results:
    """Runs: (arm, variant) -> (accuracy on originals, on two surface shifts), per seed; an arm is a target (full
    tuning) or `target-params`."""
    rng = np.random.default_rng(7)
    frames, models = [], []
    for (arm, variant), (p_orig, p_surface) in rates.items():
        target, _, params = arm.partition("-")
        params = params or "full"
        for seed in seeds if variant != "memorize" else (0,):
            name = f"{target}-{params}-s{seed}" + (f"-{variant}" if variant else "")
            perturbed = {"paraphrase": bernoulli(rng, p_surface, n), "distractor": bernoulli(rng, p_surface, n)}
            frames.append(predictions_for(name, bernoulli(rng, p_orig, n), perturbed, seed))
            models.append({"model": name, "kind": "sft", "target": target, "params": params, "seed": seed,
                           "variant": variant, "steps": 800, "published_step": 650, "stopped": "plateau"})
    return Results(folder=None, models=pd.DataFrame(models, columns=MODEL_COLUMNS),
                   predictions=pd.concat(frames, ignore_index=True))


ARMS = {("answer", None): (0.8, 0.4), ("theorem", None): (0.85, 0.75), ("solution", None): (0.8, 0.6)}


def test_the_arms_seeds_and_the_controls_are_kept_apart():
    results = planted({**ARMS, ("theorem", "tokens"): (0.8, 0.6)})
    frame = with_variants(results.predictions, results.models)
    assert set(frame.loc[frame["variant"] == "tokens", "model"]) == {f"theorem-full-s{s}-tokens" for s in range(3)}
    assert frame.loc[frame["model"] == "theorem-full-s0", "variant"].isna().all()


def test_c2_stands_when_theorem_sft_leads_solution_sft_at_equal_tokens_too():
    results = planted({**ARMS, ("theorem", "tokens"): (0.85, 0.75)})
    row = claims_table(results).set_index("claim").loc["C2"]
    assert row["verdict"] == "supported" and "at equal target tokens" in row["note"]
    table = budget_table(results.predictions, results.models).set_index(["comparison", "measure"])
    lead = table.loc[("theorem - solution, token-matched", "accuracy (surface)")]
    assert lead["ci_low"] > 0 and lead["value"] == pytest.approx(0.15, abs=0.05)
    assert lead["interval"].startswith("t interval over runs (3 vs 3)")


def test_c2_is_not_supported_when_the_budget_explains_the_lead():
    """Theorem-SFT held to solution-SFT's target tokens does worse than solution-SFT: the lead over answer-SFT
    stays, but naming theorems is not what bought it."""
    results = planted({**ARMS, ("theorem", "tokens"): (0.7, 0.4)})
    row = claims_table(results).set_index("claim").loc["C2"]
    assert row["verdict"] == "not supported" and "theorem-SFT does worse than it" in row["note"]
    assert row["ci_low"] > 0  # theorem still beats answer


def test_an_undetermined_budget_control_makes_c2_inconclusive():
    """Theorem-SFT beats the solution arm, but not when held to solution-SFT's target tokens: the control cannot
    give the gain to the theorems, so a supported C2 becomes inconclusive (not 'not supported': not determined)."""
    results = planted({**ARMS, ("theorem", "tokens"): (0.8, 0.6)})
    row = claims_table(results).set_index("claim").loc["C2"]
    assert row["verdict"] == "inconclusive" and "does not beat solution-SFT" in row["note"]
    assert row["control_low"] > 0  # the solution arm alone would have let it stand


def test_memorization_is_read_against_answer_sft_at_its_plateau():
    results = planted({**ARMS, ("answer", "memorize"): (0.95, 0.2)})
    table = budget_table(results.predictions, results.models).set_index(["comparison", "measure"])
    drop = table.loc[("memorization - answer at its plateau", "robustness (surface)")]
    assert drop["ci_high"] < 0 and drop["runs_a"] == 1 and drop["runs_b"] == 3
    assert drop["interval"].startswith("paired bootstrap")  # one memorization run: seed 0 with seed 0
    assert ("theorem - solution, token-matched", "accuracy (surface)") not in table.index  # no tokens runs


def test_c3_is_inconclusive_when_where_the_plateau_rule_stopped_decides_it():
    """MLP-only tuning 10 points behind full tuning at its plateau, level with it when trained to the step cap:
    C3's 'not supported' is the stopping rule's, so it is inconclusive; when the runs to the cap stay behind, it
    stands. The comparisons are in the budget table either way."""
    arms = {("theorem", None): (0.85, 0.75), ("theorem-mlp", None): (0.75, 0.65)}
    plateau = claims_table(planted(arms, n=2000)).set_index("claim").loc["C3"]
    assert plateau["verdict"] == "not supported" and "step cap" not in plateau["note"]
    results = planted({**arms, ("theorem-mlp", "long"): (0.85, 0.75)}, n=2000)
    row = claims_table(results).set_index("claim").loc["C3"]
    assert row["verdict"] == "inconclusive" and "where the plateau rule stopped MLP-only tuning" in row["note"]
    assert "(supported)" in row["note"] and row["value"] == plateau["value"]  # the estimate is still the plateau's
    table = budget_table(results.predictions, results.models).set_index(["comparison", "measure"])
    gain = table.loc[("theorem-mlp to the step cap - at its plateau", "accuracy (original)")]
    assert gain["ci_low"] > 0 and gain["value"] == pytest.approx(0.10, abs=0.03)
    behind = planted({**arms, ("theorem-mlp", "long"): (0.76, 0.66)}, n=2000)
    row = claims_table(behind).set_index("claim").loc["C3"]
    assert row["verdict"] == "not supported" and "(not supported)" in row["note"]


def test_each_runs_plateau_is_the_step_it_published():
    models = pd.DataFrame([
        {"model": "answer-full-s0", "target": "answer", "params": "full", "seed": 0, "variant": None, "lr": 1e-4,
         "steps": 800, "published_step": 100, "stopped": "plateau", "target_tokens_seen": 900},
        {"model": "answer-full-s0-memorize", "target": "answer", "params": "full", "seed": 0,
         "variant": "memorize", "lr": 1e-4, "steps": 2000, "published_step": 150, "stopped": "train_accuracy",
         "target_tokens_seen": 1400},
        {"model": "answer-full-lr0.0001", "target": "answer", "params": "full", "seed": 0, "variant": "lr-trial",
         "lr": 1e-4, "steps": 100, "published_step": 100, "stopped": "steps", "target_tokens_seen": 900}],
        columns=MODEL_COLUMNS)
    curves = pd.DataFrame([
        {"model": "answer-full-s0", "step": 50, "heldout_accuracy": 0.6},
        {"model": "answer-full-s0", "step": 100, "heldout_accuracy": 0.7},
        {"model": "answer-full-s0", "step": 150, "heldout_accuracy": 0.65},
        {"model": "answer-full-s0-memorize", "step": 100, "heldout_accuracy": 0.7, "train_accuracy": 0.8},
        {"model": "answer-full-s0-memorize", "step": 150, "heldout_accuracy": 0.66, "train_accuracy": 0.92}])
    test = pd.concat([predictions_for("answer-full-s0", np.array([1, 1, 0, 1]), {"paraphrase": np.zeros(4)}),
                      predictions_for("answer-full-s0-memorize", np.array([1, 0, 0, 0]), {})])
    table = training_table(models, curves, test).set_index("model")
    assert list(table.index) == ["answer-full-s0", "answer-full-s0-memorize"]  # no learning-rate trial
    assert table.loc["answer-full-s0", "validation_accuracy"] == 0.7  # the published step's, not the last
    assert np.isnan(table.loc["answer-full-s0", "train_accuracy"])
    fitted = predictions_for("answer-full-s0", np.array([1, 1, 1, 0, 1]), {}).assign(split="train")
    graded = training_table(models, curves, test, fitted).set_index("model")
    assert graded.loc["answer-full-s0", "train_accuracy"] == 0.8  # its final checkpoint graded on train
    assert table.loc["answer-full-s0-memorize", ["validation_accuracy", "train_accuracy"]].tolist() == [0.66, 0.92]
    assert table["test_accuracy"].tolist() == [0.75, 0.25]  # the originals only


def test_robustness_differences_are_marked_unread_where_a_side_did_not_learn():
    results = planted({("theorem", None): (0.1, 0.05), ("solution", None): (0.1, 0.02),
                       ("theorem", "tokens"): (0.1, 0.05)})
    table = budget_table(results.predictions, results.models)
    assert len(table) and not table["learned"].any()
    from tsft.figures.evidence import budget_sentences

    assert all("robustness (surface) not read" in line for line in budget_sentences(table))
    learned = budget_table(planted(ARMS).predictions, planted(ARMS).models)
    assert learned["learned"].all()


def test_lr_trials_say_how_many_standard_errors_each_rate_lies_behind_the_chosen_one():
    """Planted trials: the chosen rate is the one the arm's runs use; the others' distance is the accuracy
    difference over the unpaired standard error of the difference, each side binomial on `eval_size` problems."""
    from tsft.figures.summary import lr_lines

    trials = {1e-4: 0.60, 2e-4: 0.55, 4e-4: 0.30}
    rows = [{"model": f"theorem-full-lr{lr:g}", "target": "theorem", "params": "full", "seed": 0,
             "variant": "lr-trial", "lr": lr, "eval_size": 160} for lr in trials]
    rows += [{"model": "theorem-full-s0", "target": "theorem", "params": "full", "seed": 0, "variant": None,
              "lr": 1e-4, "eval_size": 160},
             {"model": "answer-full-lr0.0001", "target": "answer", "params": "full", "seed": 0,
              "variant": "lr-trial", "lr": 1e-4, "eval_size": 160}]  # an arm whose runs have not started
    models = pd.DataFrame(rows, columns=MODEL_COLUMNS)
    curves = pd.DataFrame([{"model": f"theorem-full-lr{lr:g}", "step": step, "heldout_accuracy": acc - 0.2 * (
        step == 50), "heldout_loss": 0.1} for lr, acc in trials.items() for step in (50, 100)]
        + [{"model": "answer-full-lr0.0001", "step": 100, "heldout_accuracy": 0.3, "heldout_loss": 0.4}])
    table = lr_table(models, curves).set_index(["target", "lr"])
    assert table["step"].eq(100).all()  # the trial's last step
    se = {lr: np.sqrt(p * (1 - p) / 160) for lr, p in trials.items()}
    assert table.loc[("theorem", 2e-4), "se"] == pytest.approx(se[2e-4])
    assert table.loc[("theorem", 2e-4), "se_behind"] == pytest.approx(0.05 / np.hypot(se[1e-4], se[2e-4]))
    assert table.loc[("theorem", 4e-4), "se_behind"] > 2 > table.loc[("theorem", 2e-4), "se_behind"]
    assert table.loc[("theorem", 1e-4), "chosen"] and np.isnan(table.loc[("theorem", 1e-4), "se_behind"])
    assert not table.loc[("answer", 1e-4), "chosen"] and np.isnan(table.loc[("answer", 1e-4), "se_behind"])
    assert "| theorem-full | 2e-04 | 0.550 | 0.039 |  | 0.9 |" in lr_lines(table.reset_index())
