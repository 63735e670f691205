"""A local Qwen2.5-VL folder (its own BPE tokenizer and chat template, preprocessor_config.json) trains and
evaluates on diagram problems through the same code as a tsft base: the real-model path, at a tiny size."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

pytest.importorskip("PIL")

from tsft.models.evaluate import run_eval
from tsft.models.images import IMAGE_PAD, VISION_TOKENS
from tsft.models.loading import load_model
from tsft.models.prompts import prompt_text
from tsft.models.targets import render_target
from tsft.models.vision import build_vision_model, image_processor_for
from tsft.tasks.world.catalogue import tokenizer_corpus
from tsft.training.batches import sft_example
from tsft.training.config import SFTConfig
from tsft.training.sft import train_sft

# Qwen2-VL's chat template, as its folders ship it (video branch left out): an image item becomes the vision markers.
QWEN_VL_CHAT = (
    "{% set image_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != "
    "'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>"
    "{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content %}"
    "{% set image_count.value = image_count.value + 1 %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def qwen_vl_folder(path):
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *VISION_TOKENS]
    tok.train_from_iterator([tokenizer_corpus(), "0 1 2 3 4 5 6 7 8 9 Answer: figure marked"],
                            trainers.BpeTrainer(vocab_size=800, special_tokens=specials,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        chat_template=QWEN_VL_CHAT)
    build_vision_model("tiny", tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    image_processor_for(112).save_pretrained(path)
    return path


def test_a_local_qwen_vl_folder_trains_and_evaluates_on_diagrams(diagram_dir, diagram, tmp_path):
    folder = qwen_vl_folder(tmp_path / "qwen-vl")
    model, tokenizer = load_model(folder)
    assert model.config.model_type == "qwen2_5_vl" and tokenizer.tsft_images is not None
    problem = diagram.train[0]
    prompt = prompt_text(problem, tokenizer)
    assert prompt.startswith("<|im_start|>system") and "<|vision_start|><|image_pad|><|vision_end|>" in prompt
    example = sft_example(tokenizer, prompt, render_target(problem, "answer"), 512, problem.image)
    assert tokenizer.convert_ids_to_tokens(list(example.ids)).count(IMAGE_PAD) == 16

    config = SFTConfig(target="answer", params="mlp", steps=2, batch_size=4, micro_batch_size=4, eval_every=0,
                       save_every=2, eval_size=2, warmup_steps=1)
    card = train_sft(folder, diagram_dir, tmp_path / "run", config, progress=False)
    assert card["status"] == "complete" and (tmp_path / "run" / "preprocessor_config.json").is_file()
    frame, summary = run_eval(tmp_path / "run", diagram_dir, tmp_path / "eval", ["original", "rotate"], limit=2,
                              max_new_tokens=4, progress=False)
    assert set(summary["kind"]) == {"original", "rotate"} and len(frame) == 4
