"""Prompt formats: system prompt (template default, none, custom), instructions, few-shot turns, and an SFT
checkpoint that remembers its format. References are the chat strings written out by hand."""

from __future__ import annotations

import copy

import pytest
from tsft.models.loading import load_model
from tsft.models.prompts import (
    INSTRUCTIONS,
    PromptFormat,
    as_shots,
    few_shot,
    prompt_for,
    prompt_format,
    set_prompt_format,
)
from tsft.models.targets import render_target
from tsft.training.sft import train_sft

from tests.training.conftest import fast_sft
from tests.training.test_hf_folders import _folder

# SmolLM2-135M-Instruct's template: a default system turn when the first message is not a system one
SMOL = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are SmolLM<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
BOS_TEMPLATE = ("{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}[assistant]{% endif %}")


@pytest.fixture
def chat(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = SMOL
    return tok


def _with(tok, **fields):
    tok = copy.deepcopy(tok)
    set_prompt_format(tok, PromptFormat(**fields))
    return tok


def test_system_prompt_default_none_and_custom(chat):
    turn = "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    assert prompt_for("What is 2 + 3?", chat) == "<|im_start|>system\nYou are SmolLM<|im_end|>\n" + turn
    assert prompt_for("What is 2 + 3?", _with(chat, system="none")) == turn
    assert prompt_for("What is 2 + 3?", _with(chat, system="Be brief.")) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n" + turn)


def test_no_system_keeps_a_leading_bos(tokenizer):
    tok = _with(tokenizer, system="none")
    tok.chat_template = BOS_TEMPLATE
    assert prompt_for("Hi", tok) == f"{tok.bos_token}[user] Hi\n[assistant]"


def test_instruction_and_shots_as_chat_turns(chat):
    tok = _with(chat, system="none", instruction="answer", shots=(("1 + 1?", " Answer: 2"),))
    assert prompt_for("2 + 2?", tok) == (
        "<|im_start|>user\n1 + 1?<|im_end|>\n<|im_start|>assistant\nAnswer: 2<|im_end|>\n"
        f"<|im_start|>user\n2 + 2?\n{INSTRUCTIONS['answer']}<|im_end|>\n<|im_start|>assistant\n")
    custom = _with(chat, system="none", instruction="Think.")
    assert "2 + 2?\nThink.<|im_end|>" in prompt_for("2 + 2?", custom)


def test_plain_models_get_shots_as_solved_blocks(tokenizer):
    tok = _with(tokenizer, shots=(("1 + 1?", " Answer: 2"), ("3 - 1?", "\n3 - 1 = 2\nAnswer: 2")))
    assert prompt_for("2 + 2?", tok) == ("Problem: 1 + 1?\nSolution: Answer: 2\n\n"
                                         "Problem: 3 - 1?\nSolution:\n3 - 1 = 2\nAnswer: 2\n\n"
                                         "Problem: 2 + 2?\nSolution:")


def test_few_shot_is_seeded_spreads_theorems_and_respects_exclusions(dataset):
    pool = dataset.train
    chosen = few_shot(pool, 4, seed=3)
    assert chosen == few_shot(pool, 4, seed=3) and chosen != few_shot(pool, 4, seed=4)
    assert len({p.theorem_ids[0] for p in chosen}) == 4
    assert as_shots(chosen, "theorem") == tuple((p.text, render_target(p, "theorem")) for p in chosen)
    assert chosen[0] not in few_shot(pool, 4, seed=3, exclude=[chosen[0].id])
    with pytest.raises(ValueError, match="only 2 problems"):
        few_shot(pool[:2], 3)


def test_sft_checkpoint_keeps_its_system_choice(data_dir, dataset, tmp_path):
    folder = _folder(tmp_path / "chat", "qwen2", chat=True)
    folder.joinpath("chat_template.jinja").unlink(missing_ok=True)
    config = folder / "tokenizer_config.json"
    import json

    settings = json.loads(config.read_text())
    settings["chat_template"] = SMOL
    config.write_text(json.dumps(settings))
    _, base_tok = load_model(folder)
    assert prompt_format(base_tok).system == "default" and "You are SmolLM" in prompt_for("x", base_tok)
    train_sft(folder, data_dir, tmp_path / "run", fast_sft(target="answer", system="none", steps=1, save_every=1),
              progress=False)
    _, tuned_tok = load_model(tmp_path / "run")
    assert prompt_format(tuned_tok).system == "none"
    assert prompt_for("x", tuned_tok) == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
