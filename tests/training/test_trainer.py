"""The trainer's step: accumulation and activation checkpointing do not change the update."""

from __future__ import annotations

import pytest
import torch
from tsft.training.sft import encode_problems
from tsft.training.trainer import Run, Trainer

from tests.training.conftest import fast_sft, tiny_model


def _train(tokenizer, dataset, tmp_path, steps: int = 3, **settings):
    examples = encode_problems(dataset.train, tokenizer, "solution", 384, "train")
    model = tiny_model(tokenizer)
    run = Run(model=model, tokenizer=tokenizer, examples=examples, out=tmp_path, card={}, progress=False)
    trainer = Trainer(run, fast_sft(**settings))
    losses = [trainer.train_step()[0] for _ in range(steps)]
    return losses, {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("settings", [{"micro_batch_size": 2}, {"gradient_checkpointing": True}])
def test_same_update_as_one_plain_micro_batch(settings, tokenizer, dataset, tmp_path):
    reference_losses, reference = _train(tokenizer, dataset, tmp_path / "a")
    losses, weights = _train(tokenizer, dataset, tmp_path / "b", **settings)
    assert losses == pytest.approx(reference_losses, rel=1e-5)
    for name, value in reference.items():
        # Adam turns float-rounding differences in near-zero gradients into steps of up to lr: 1e-2 x 1e-2
        assert torch.allclose(weights[name], value, rtol=0, atol=1e-4), name


def test_first_step_loss_is_the_mean_over_target_tokens(tokenizer, dataset, tmp_path):
    from tsft.training.batches import collate
    from tsft.training.trainer import token_loss_sum

    examples = encode_problems(dataset.train, tokenizer, "answer", 384, "train")
    model = tiny_model(tokenizer)
    run = Run(model=model, tokenizer=tokenizer, examples=examples, out=tmp_path, card={}, progress=False)
    trainer = Trainer(run, fast_sft())
    batch = [examples[i] for i in trainer.plan.batch(0)]
    with torch.no_grad():  # independent: each example alone, summed, over its target count
        total = sum(float(token_loss_sum(model, collate([e], tokenizer.pad_token_id))) for e in batch)
    expected = total / sum(e.n_target for e in batch)
    loss, tokens, targets = trainer.train_step()
    assert loss == pytest.approx(expected, rel=1e-5)
    assert (tokens, targets) == (sum(len(e.ids) for e in batch), sum(e.n_target for e in batch))
