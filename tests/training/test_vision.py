"""Qwen2.5-VL in training/: forward, loss mask, training step, selections, generation, checkpoints, with
figures, on a tiny random model (checked against hand computations and HF's own forward)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("PIL")

from tsft.models.generation import greedy_generate
from tsft.models.images import IMAGE_PAD, image_inputs, model_inputs
from tsft.models.params import apply_selection, parse_selection
from tsft.models.prompts import prompt_text
from tsft.models.targets import render_target
from tsft.training.batches import IGNORE, Example, collate, sft_example
from tsft.training.trainer import token_loss_sum


def examples(tokenizer, problems, target="theorem"):
    return [sft_example(tokenizer, prompt_text(p, tokenizer), render_target(p, target), 512, p.image) for p in problems]


def test_a_112_pixel_figure_is_16_tokens_between_the_vision_markers(vision_tokenizer, diagram):
    problem = diagram.test[0]
    example = examples(vision_tokenizer, [problem])[0]
    tokens = vision_tokenizer.convert_ids_to_tokens(list(example.ids))
    # (112 / 14)^2 patches, merged 2 x 2: 16 language-model tokens, written once in the prompt
    assert tokens.count(IMAGE_PAD) == 16
    start = tokens.index("<|vision_start|>")
    assert tokens[start + 1:start + 17] == [IMAGE_PAD] * 16 and tokens[start + 17] == "<|vision_end|>"
    assert "<unk>" not in tokens
    assert all(i < example.n_prompt for i, t in enumerate(tokens) if t == IMAGE_PAD)


def test_the_figure_changes_only_positions_after_it(qwen_vl, vision_tokenizer, diagram):
    row = diagram.perturbed["given_swap"][0]
    original = next(p for p in diagram.test if p.id == row.original_id)
    a, b = examples(vision_tokenizer, [original, row.problem], "answer")
    assert a.ids[:a.n_prompt] == b.ids[:b.n_prompt]  # same text: same tokens; only the pixels differ
    ids = torch.tensor([a.ids[:a.n_prompt]])
    with torch.no_grad():
        la = qwen_vl(input_ids=ids, **image_inputs(vision_tokenizer, ids, [original.image])).logits
        lb = qwen_vl(input_ids=ids, **image_inputs(vision_tokenizer, ids, [row.problem.image])).logits
    first = (ids[0] == vision_tokenizer.tsft_images.image_token_id).nonzero()[0, 0]
    torch.testing.assert_close(la[0, :first], lb[0, :first])  # causal: nothing before the figure sees it
    assert (la[0, -1] - lb[0, -1]).abs().max() > 1e-4


def test_padded_batch_rows_equal_single_rows(qwen_vl, vision_tokenizer, diagram):
    batch_examples = examples(vision_tokenizer, diagram.test[:3], "answer")
    batch = collate(batch_examples, vision_tokenizer.pad_token_id, vision_tokenizer.tsft_images)
    with torch.no_grad():
        together = qwen_vl(**model_inputs(batch)).logits
        for row, example in enumerate(batch_examples):
            alone = collate([example], vision_tokenizer.pad_token_id, vision_tokenizer.tsft_images)
            single = qwen_vl(**model_inputs(alone)).logits
            torch.testing.assert_close(together[row, :len(example.ids)], single[0], atol=1e-5, rtol=1e-4)


def test_loss_covers_target_tokens_never_image_tokens(qwen_vl, vision_tokenizer, diagram):
    batch_examples = examples(vision_tokenizer, diagram.test[:2])
    # a prompt-less example holding a figure (a pretraining block): its image tokens still carry no loss
    batch_examples.append(dataclasses.replace(batch_examples[0], n_prompt=0))
    batch = collate(batch_examples, vision_tokenizer.pad_token_id, vision_tokenizer.tsft_images)
    is_image = batch["input_ids"] == vision_tokenizer.tsft_images.image_token_id
    assert is_image.sum() == 16 * 3
    assert (batch["labels"][is_image] == IGNORE).all()
    assert (batch["mm_token_type_ids"] == is_image.int()).all()
    with torch.no_grad():
        logits = qwen_vl(**model_inputs(batch)).logits
        total = token_loss_sum(qwen_vl, batch)
    hand = 0.0
    for row, example in enumerate(batch_examples):
        for t in range(max(example.n_prompt, 1), len(example.ids)):
            if example.ids[t] != vision_tokenizer.tsft_images.image_token_id:
                hand += float(F.cross_entropy(logits[row, t - 1][None], torch.tensor([example.ids[t]])))
    assert float(total) == pytest.approx(hand, rel=1e-5)


def test_collate_refuses_figures_without_an_encoder(vision_tokenizer, diagram):
    example = examples(vision_tokenizer, diagram.test[:1])[0]
    with pytest.raises(ValueError, match="no image encoder"):
        collate([example], vision_tokenizer.pad_token_id)
    assert Example((1, 2), 1).image is None


def _step(model, batch):
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.5)
    token_loss_sum(model, batch).backward()
    optimizer.step()
    model.eval()


@pytest.mark.parametrize("spec", ["full", "full+vision", "mlp", "attn"])
def test_a_training_step_moves_only_the_selection(qwen_vl, vision_tokenizer, diagram, spec):
    import copy

    model = copy.deepcopy(qwen_vl)
    apply_selection(model, parse_selection(spec))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _step(model, collate(examples(vision_tokenizer, diagram.train[:4]), vision_tokenizer.pad_token_id,
                         vision_tokenizer.tsft_images))
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    vision = {n for n in moved if n.startswith("model.visual.")}
    language = moved - vision
    assert bool(vision) == (spec == "full+vision")  # the vision tower is frozen unless selected
    if spec in ("mlp", "attn"):
        part = ".mlp." if spec == "mlp" else ".self_attn."
        assert language and all(n.startswith("model.language_model.layers.") and part in n for n in language)
    else:
        assert "model.language_model.embed_tokens.weight" in language


def test_greedy_generation_with_figures_matches_a_hand_loop(qwen_vl, vision_tokenizer, diagram):
    problems = diagram.test[:3]
    prompts = [prompt_text(p, vision_tokenizer) for p in problems]
    out = greedy_generate(qwen_vl, vision_tokenizer, prompts, 6, images=[p.image for p in problems])
    for problem, text in zip(problems, out, strict=True):
        ids = torch.tensor([sft_example(vision_tokenizer, prompt_text(problem, vision_tokenizer), "", 512,
                                        problem.image).ids[:-1]])
        inputs = image_inputs(vision_tokenizer, ids, [problem.image])
        new = []
        with torch.no_grad():
            for _ in range(6):  # no cache: the whole sequence each step
                full = torch.cat([ids, torch.tensor([new], dtype=torch.long)], 1) if new else ids
                mm = (full == vision_tokenizer.tsft_images.image_token_id).int()
                logits = qwen_vl(input_ids=full, pixel_values=inputs["pixel_values"],
                                 image_grid_thw=inputs["image_grid_thw"], mm_token_type_ids=mm).logits
                token = int(logits[0, -1].argmax())
                if token == vision_tokenizer.eos_token_id:
                    break
                new.append(token)
        assert text == vision_tokenizer.decode(new, skip_special_tokens=True)


def test_a_vision_checkpoint_reloads_with_its_image_processor(qwen_vl, vision_tokenizer, tmp_path):
    from tsft.models.cards import save_tokenizer
    from tsft.models.loading import load_model

    qwen_vl.save_pretrained(tmp_path)
    save_tokenizer(vision_tokenizer, tmp_path)
    model, tokenizer = load_model(tmp_path)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert tokenizer.tsft_images.image_token_id == vision_tokenizer.tsft_images.image_token_id
    saved, now = vision_tokenizer.tsft_images.image_processor.to_dict(), tokenizer.tsft_images.image_processor.to_dict()
    assert {k: v for k, v in saved.items() if k != "_processor_class"} == \
        {k: v for k, v in now.items() if k != "_processor_class"}
    for (name, a), b in zip(qwen_vl.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_lora_adapts_the_language_model_only(qwen_vl):
    import copy

    pytest.importorskip("peft")
    model = apply_selection(copy.deepcopy(qwen_vl), parse_selection("lora"))
    adapted = {n for n, p in model.named_parameters() if p.requires_grad}
    assert adapted and not any(".visual." in n for n in adapted)
    with pytest.raises(ValueError, match="lora\\+vision"):
        apply_selection(copy.deepcopy(qwen_vl), parse_selection("lora+vision"))


def test_caption_examples_and_their_scoring(vision_tokenizer, tmp_path, monkeypatch):
    from tsft.models.vision import figure_caption
    from tsft.tasks.diagram.world import DiagramConfig, generate_split
    from tsft.training import captions
    from tsft.training.captions import caption_accuracy, caption_examples, caption_of
    from tsft.training.config import BaseConfig

    config = BaseConfig(arch="qwen2_5_vl", n_figures=4, seed=1)
    made = caption_examples(vision_tokenizer, config, tmp_path / "figures")
    problems = generate_split(DiagramConfig(seed=config.seed + 20_000, size=112), "train", 4)
    assert [caption_of(e, vision_tokenizer).strip() for e in made] == [figure_caption(p).strip() for p in problems]
    assert all(e.n_prompt == 1 + 1 + 16 + 1 for e in made)  # <bos>, vision start, 16 image tokens, vision end
    assert all(caption_of(e, vision_tokenizer).strip().split()[1] in ("angle", "side", "leg") for e in made)
    wanted = [caption_of(e, vision_tokenizer) for e in made]
    # a reader that gets the first caption right, the second's value but not its item, the rest wrong
    answers = [wanted[0], "Figure: thing =" + wanted[1].split("=")[1], "Figure:", wanted[3] + "0"]
    monkeypatch.setattr(captions, "greedy_generate", lambda *a, **k: answers)
    scores = caption_accuracy(None, vision_tokenizer, made)
    assert scores == {"caption_exact": 0.25, "caption_value": 0.5}
