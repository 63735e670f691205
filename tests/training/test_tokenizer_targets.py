"""The world tokenizer round-trips every text exactly; targets differ only after the prompt."""

from __future__ import annotations

import re

import pytest
from tsft.models.prompts import prompt_text
from tsft.models.targets import TARGETS, TargetError, check_renderable, named_theorem, render_target
from tsft.tasks.grading import extract_answer, grade
from tsft.tasks.schema import Problem


def _all_problems(dataset):
    return dataset.train + dataset.test + [p.problem for kind in dataset.perturbed.values() for p in kind]


def test_tokenizer_round_trips_every_text_without_unknowns(tokenizer, dataset):
    for problem in _all_problems(dataset):
        for target in TARGETS:
            text = prompt_text(problem) + render_target(problem, target)
            ids = tokenizer(text)["input_ids"]
            assert tokenizer.unk_token_id not in ids, text
            assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_digits_are_single_tokens_and_capital_runs_split(tokenizer):
    pieces = [t.lstrip("▁") for t in tokenizer.tokenize("triangle PQR has 180 degrees")]
    assert pieces == ["triangle", "P", "Q", "R", "has", "1", "8", "0", "degrees"]


def test_tsft_tokenizer_reloads_as_fast_tokenizer(tokenizer, tmp_path):
    from tsft.models.loading import load_tokenizer

    tokenizer.save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    text = "Problem: Ann draws triangle EMN.\nSolution:"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert (loaded.pad_token, loaded.eos_token, loaded.bos_token) == ("<pad>", "<eos>", "<bos>")


def test_only_the_target_changes_between_styles(dataset):
    for problem in dataset.train[:20]:
        rendered = {t: render_target(problem, t) for t in TARGETS}
        # every style ends in the same graded answer line
        for text in rendered.values():
            assert text.rstrip().endswith(f"Answer: {problem.answer}")
            assert grade(extract_answer(text), problem.answer)
        assert rendered["answer"] == f" Answer: {problem.answer}"
        assert all(step in rendered["solution"] for step in problem.steps)
        assert "Theorem:" not in rendered["solution"]
        app = problem.theorems[0]
        assert named_theorem(rendered["theorem"]) == app.name
        for section in ("Cond:", "Map:", "Exec:"):
            assert re.search(rf"^{section}", rendered["theorem"], re.M)
        for binding in app.bindings:
            assert f"{binding.slot} = {binding.object}" in rendered["theorem"]


def test_targets_the_data_cannot_render_are_errors_naming_the_problem():
    bare = Problem(id="gsm-1", source="gsm8k", text="What is 2 + 3?", answer="5")
    assert render_target(bare, "answer") == " Answer: 5"
    with pytest.raises(TargetError, match=r"gsm-1.*theorem annotation"):
        render_target(bare, "theorem")
    with pytest.raises(TargetError, match=r"gsm-1.*solution steps"):
        render_target(bare, "solution")
    with pytest.raises(TargetError, match=r"data.jsonl: 1 of 1 problems have no theorem annotations"):
        check_renderable([bare], "theorem", "data.jsonl")
    with pytest.raises(TargetError, match=r"no problems"):
        check_renderable([], "answer", "data.jsonl")
    with pytest.raises(ValueError, match=r"unknown target"):
        check_renderable([bare], "proof", "data.jsonl")


def test_chat_template_prompts_for_instruct_tokenizers(tokenizer):
    import copy

    problem = Problem(id="p", source="x", text="What is 2 + 3?", answer="5")
    assert prompt_text(problem, tokenizer) == "Problem: What is 2 + 3?\nSolution:"
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = ("{% for m in messages %}<bos>[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}[assistant]{% endif %}")
    assert prompt_text(problem, chat) == "<bos>[user] What is 2 + 3?\n[assistant]"
