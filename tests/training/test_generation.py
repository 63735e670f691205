"""Generation: batched KV-cache greedy decoding equals a hand-written greedy loop; CIs and tables."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
import torch
from tsft.models.evaluate import bootstrap_ci, grade_outputs, run_eval, summarize
from tsft.models.generation import greedy_generate
from tsft.models.placement import Placement

from tests.training.conftest import tiny_model


def _greedy_by_hand(model, tokenizer, prompt: str, n: int) -> str:
    """One prompt, no padding, no cache: argmax of the full forward, appended one token at a time."""
    ids = tokenizer(prompt)["input_ids"]
    out = []
    with torch.no_grad():
        for _ in range(n):
            token = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            out.append(token)
    return tokenizer.decode(out, skip_special_tokens=True)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_batched_cached_greedy_equals_the_hand_written_loop(arch, tokenizer):
    model = tiny_model(tokenizer, arch, seed=3).eval()
    prompts = ["Problem: What is 2 + 3?\nSolution:", "Problem: Ann draws triangle EMN.\nSolution:",
               "Problem: Angle E is 80 degrees and angle M is 30 degrees. What is the angle at N?\nSolution:"]
    batched = greedy_generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=3)
    assert batched == [_greedy_by_hand(model, tokenizer, p, 12) for p in prompts]


def test_bootstrap_ci_brackets_the_mean_and_collapses_on_constants():
    values = [1.0] * 30 + [0.0] * 70
    low, high = bootstrap_ci(values, seed=1)
    assert low < 0.3 < high and low > 0.15 and high < 0.45
    assert math.isclose(high - low, 2 * 1.96 * math.sqrt(0.3 * 0.7 / 100), rel_tol=0.2)  # normal approx
    assert bootstrap_ci([1.0] * 10) == (1.0, 1.0)
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_rows_grade_answers_and_check_the_named_theorem(dataset):
    problem = dataset.test[0]
    name = problem.theorems[0].name
    outputs = [f"\nTheorem: {name}. stuff\nAnswer: {problem.answer}", "\nTheorem: pigeonhole principle. x\nAnswer: -1",
               "no answer here"]
    rows = grade_outputs([problem] * 3, outputs, "m", "test", "original")
    assert [r["correct"] for r in rows] == [True, False, False]
    assert [r["theorem_named_first"] for r in rows] == [True, name == "pigeonhole principle", None]
    summary = summarize(pd.DataFrame(rows))
    assert summary.loc[0, "n"] == 3 and math.isclose(summary.loc[0, "accuracy"], 1 / 3)


def test_theorems_named_in_prose_match_by_content_words():
    from tsft.models.targets import named_theorem, same_theorem

    said = "The theorem you use is Angle Sum Property of a Triangle. It states that the angles add to 180."
    assert named_theorem(said) == "Angle Sum Property of a Triangle"
    assert named_theorem("The formula used here is the Pythagorean Theorem.\n") == "Pythagorean Theorem"
    assert named_theorem("\nTheorem: exterior angle theorem. An exterior angle...") == "exterior angle theorem"
    assert named_theorem("The area is 30.") is None
    assert same_theorem("Angle Sum Property of a Triangle", "triangle angle sum theorem")
    assert not same_theorem("Angle Sum Property of a Triangle", "exterior angle theorem")
    assert same_theorem("Pythagorean Theorem", "Pythagorean theorem")
    assert same_theorem("Vieta's formulas for the sum of the roots", "Vieta's formula for the sum of roots")
    assert not same_theorem("Vieta's formula for the sum of roots", "Vieta's formula for the product of roots")
    assert not same_theorem("the theorem", "formula")  # nothing to match is never a match


def test_run_eval_writes_a_table_per_problem_and_a_summary(base_dir, data_dir, tmp_path):
    frame, summary = run_eval(base_dir, data_dir, tmp_path / "eval", limit=4, max_new_tokens=6, progress=False)
    written = pd.read_parquet(tmp_path / "eval" / "predictions.parquet")
    assert len(written) == len(frame) and set(written["kind"]) == set(summary["kind"])
    assert {"model", "split", "kind", "problem_id", "original_id", "theorem", "prediction", "correct",
            "theorem_named_first"} <= set(written.columns)
    assert summary["n"].iloc[0] == 4 and summary["kind"].iloc[0] == "original" and (summary["n"] <= 4).all()
    with pytest.raises(FileExistsError):
        run_eval(base_dir, data_dir, tmp_path / "eval", limit=1)
    with pytest.raises(ValueError, match="unknown split"):
        run_eval(base_dir, data_dir, tmp_path / "other", splits=["nope"])


def test_train_accuracy_is_graded_in_the_same_run_and_written_apart(base_dir, data_dir, dataset, tmp_path):
    """The first training problems' answers are the ones a run on the train split alone gives (fp32: greedy is
    exact), and no test table sees them."""
    from tsft.models.evaluate import evaluate_problems
    from tsft.models.loading import load_model

    run_eval(base_dir, data_dir, tmp_path / "eval", splits=["original"], limit=2, max_new_tokens=6, progress=False,
             placement=Placement(precision="fp32"), train=3)
    fitted = pd.read_parquet(tmp_path / "eval" / "train_predictions.parquet")
    tested = pd.read_parquet(tmp_path / "eval" / "predictions.parquet")
    assert list(fitted["problem_id"]) == [p.id for p in dataset.train[:3]] and set(fitted["split"]) == {"train"}
    assert set(tested["split"]) == {"test"} and len(tested) == 2
    model, tokenizer = load_model(base_dir)
    alone = evaluate_problems(model.eval(), tokenizer, dataset.train[:3], 6, 8)
    assert list(fitted["output"]) == alone
    assert json.loads((tmp_path / "eval" / "request.json").read_text())["train"] == 3
    with pytest.raises(ValueError, match="shots"):
        run_eval(base_dir, data_dir, tmp_path / "other", train=2, shots=1)


def test_majority_baseline_answers_each_theorem_with_its_commonest_training_answer():
    from tsft.models.evaluate import majority_baseline
    from tsft.tasks.schema import Problem, TheoremApplication

    def problem(theorem: str, answer: str) -> Problem:
        app = TheoremApplication(theorem_id=theorem, name=theorem, statement="")
        return Problem(id=f"{theorem}-{answer}", source="t", text="x", answer=answer, theorems=(app,))

    train = [problem("a", "1"), problem("a", "1"), problem("a", "2"), problem("b", "7")]
    test = [problem("a", "1"), problem("a", "2"), problem("b", "7"), problem("b", "1"), problem("c", "1")]
    assert majority_baseline(train, test) == 3 / 5  # a->1 hits once, b->7 once, unseen c->overall "1" once


def test_run_eval_with_shots_and_an_instruction_records_its_prompt(base_dir, data_dir, dataset, tmp_path):
    frame, _ = run_eval(base_dir, data_dir, tmp_path / "eval", splits=["original"], limit=3, max_new_tokens=2,
                        progress=False, instruction="answer", shots=2, shot_target="answer",
                        placement=Placement(precision="fp32"))
    request = json.loads((tmp_path / "eval" / "request.json").read_text())
    assert len(request["prompt"]["shots"]) == 2 and request["prompt"]["instruction"] == "answer"
    assert request["shot_ids"] == [] and request["precision"] == "fp32" and len(frame) == 3  # shots from train
    shown = [q for q, _ in request["prompt"]["shots"]]
    assert all(a.startswith(" Answer: ") for _, a in request["prompt"]["shots"])
    assert set(shown) <= {p.text for p in dataset.train}


def test_generation_stops_at_the_end_of_the_first_answer_line(tokenizer):
    """A tiny model taught to repeat 'Answer: 7' lines: unstopped (the hand loop) it goes on writing them; the
    batched generation ends each row after its first finished answer line, and a row without one runs on."""
    model = tiny_model(tokenizer, "llama", seed=1)
    prompt, text = "Problem: What is 3 + 4?\nSolution:", " Answer: 7\nAnswer: 7\nAnswer: 7\nAnswer: 7\n"
    ids = torch.tensor([tokenizer(prompt + text)["input_ids"]])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    unstopped = _greedy_by_hand(model, tokenizer, prompt, 16)
    assert unstopped.startswith(" Answer: 7\nAnswer: 7")  # the model itself would go on
    other = "Problem: Ann draws triangle EMN.\nSolution:"
    stopped, free = greedy_generate(model, tokenizer, [prompt, other], max_new_tokens=16, batch_size=2)
    assert stopped == " Answer: 7\n"
    by_hand = _greedy_by_hand(model, tokenizer, other, 16)
    cut = re.search(r"Answer:[^\n]*\S[^\n]*\n", by_hand)
    assert free == (by_hand[:cut.end()] if cut else by_hand)


def test_a_limit_keeps_every_perturbed_version_of_the_originals_it_keeps(dataset, base_dir, data_dir, tmp_path):
    from tsft.models.evaluate import eval_splits

    every = eval_splits(dataset)
    chosen = eval_splits(dataset, limit=5, exclude=frozenset({dataset.test[0].id}))
    originals = chosen[0][3]
    assert originals == [p.id for p in dataset.test[1:6]]
    for (_, kind, problems, original_ids), (_, same_kind, _, all_ids) in zip(chosen[1:], every[1:],
                                                                                         strict=True):
        assert kind == same_kind and set(original_ids) <= set(originals)
        assert len(problems) == sum(o in originals for o in all_ids)  # every perturbation of each kept original
    assert sum(len(e[2]) for e in chosen[1:]) > 5  # the small world perturbs most originals more than once
    with pytest.raises(ValueError, match="limit"):
        eval_splits(dataset, limit=0)
    frame, summary = run_eval(base_dir, data_dir, tmp_path / "eval", limit=3, max_new_tokens=2, progress=False)
    kept = set(frame.loc[frame["kind"] == "original", "original_id"])
    assert len(kept) == 3 and set(frame["original_id"]) == kept
    assert summary.set_index("kind")["n"].to_dict() == frame.groupby("kind").size().to_dict()
