"""The real-model path: local HF folders with their own (BPE) tokenizers, chat templates or not.

Tiny random Qwen2 (instruct-style: a chat template, eos <|im_end|>) and Llama (base-style: no
chat template, no pad token) folders stand in for Qwen2.5 / Llama-3.2 downloads: same classes,
same loading code (AutoTokenizer, AutoModelForCausalLM), different sizes.
"""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tsft.models.evaluate import run_eval
from tsft.models.loading import load_model
from tsft.models.prompts import prompt_text
from tsft.models.targets import render_target
from tsft.tasks.world.catalogue import tokenizer_corpus
from tsft.training.batches import sft_example
from tsft.training.sft import train_sft

from tests.training.conftest import fast_sft

CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _bpe(chat: bool):
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator([tokenizer_corpus(), "0 1 2 3 4 5 6 7 8 9 Answer: Problem Solution"],
                            trainers.BpeTrainer(vocab_size=700, special_tokens=specials,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if chat:
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                       chat_template=CHAT)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def _folder(path, arch: str, chat: bool):
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    tokenizer = _bpe(chat)
    kind = Qwen2Config if arch == "qwen2" else LlamaConfig
    config = kind(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, intermediate_size=128, eos_token_id=tokenizer.eos_token_id)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("arch, chat", [("qwen2", True), ("llama", False)])
def test_local_folder_trains_and_evaluates_through_its_own_prompt_format(arch, chat, data_dir, dataset, tmp_path):
    folder = _folder(tmp_path / arch, arch, chat)
    model, tokenizer = load_model(folder)
    assert model.config.model_type == arch and tokenizer.pad_token_id is not None
    problem = dataset.train[0]
    prompt = prompt_text(problem, tokenizer)
    example = sft_example(tokenizer, prompt, render_target(problem, "answer"), 512)
    text = tokenizer.decode(example.ids)
    if chat:
        assert prompt == f"<|im_start|>user\n{problem.text}<|im_end|>\n<|im_start|>assistant\n"
        assert text == prompt + f"Answer: {problem.answer}<|im_end|>"
    else:
        assert prompt.startswith("Problem: ") and prompt.endswith("\nSolution:")
        assert text == prompt + f" Answer: {problem.answer}<|endoftext|>"
    assert example.n_prompt == len(tokenizer(prompt, add_special_tokens=not chat)["input_ids"])
    card = train_sft(folder, data_dir, tmp_path / "run", fast_sft(target="answer"), progress=False)
    assert card["status"] == "complete"
    _, summary = run_eval(tmp_path / "run", data_dir, tmp_path / "eval", splits=["original"], limit=4,
                          max_new_tokens=4, progress=False)
    assert summary["n"].tolist() == [4]
