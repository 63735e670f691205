"""Batches: the loss covers target tokens only; the data order is a function of (seed, step)."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st
from tsft.training.batches import IGNORE, BatchPlan, Example, collate, epoch_batches, micro_batches, shard
from tsft.training.trainer import predicted_targets, token_loss_sum

from tests.training.conftest import tiny_model


def test_labels_cover_target_tokens_only_and_never_padding():
    examples = [Example((1, 5, 6, 7, 8), 3), Example((1, 9, 10), 1), Example((1, 4, 4, 4, 4, 4, 2), 6)]
    batch = collate(examples, pad_id=0)
    for row, example in enumerate(examples):
        labels = batch["labels"][row].tolist()
        n = len(example.ids)
        assert labels[:example.n_prompt] == [IGNORE] * example.n_prompt
        assert labels[example.n_prompt:n] == list(example.ids[example.n_prompt:])
        assert labels[n:] == [IGNORE] * (len(labels) - n)
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (len(labels) - n)


def test_loss_equals_a_hand_computed_target_only_cross_entropy(tokenizer):
    model = tiny_model(tokenizer).eval()
    examples = [Example((2, 10, 11, 12, 13, 14), 3), Example((2, 20, 21, 22), 2)]
    batch = collate(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        ours = float(token_loss_sum(model, batch))
        expected = 0.0
        for example in examples:  # each sequence alone, no padding, a loop over target positions
            logits = model(torch.tensor([example.ids])).logits[0]
            for pos in range(max(example.n_prompt, 1), len(example.ids)):
                expected -= float(torch.log_softmax(logits[pos - 1].double(), -1)[example.ids[pos]])
    assert abs(ours - expected) < 1e-4 * abs(expected)
    assert sum(predicted_targets(e) for e in examples) == 3 + 2


@given(n=st.integers(8, 300), batch=st.integers(1, 16), seed=st.integers(0, 5), epoch=st.integers(0, 3))
def test_each_epoch_uses_every_example_at_most_once(n, batch, seed, epoch):
    lengths = [(i * 37) % 50 + 1 for i in range(n)]
    batches = epoch_batches(lengths, batch, seed, epoch)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) == (n // batch) * batch
    assert all(len(b) == batch for b in batches)


def test_plan_is_a_function_of_seed_and_step_and_shards_partition_the_batch():
    lengths = [(i * 13) % 40 + 1 for i in range(100)]
    plan, again = BatchPlan(lengths, 8, seed=3), BatchPlan(lengths, 8, seed=3)
    steps = [plan.batch(s) for s in range(30)]
    assert [again.batch(s) for s in reversed(range(30))] == steps[::-1]  # no hidden state
    assert steps != [BatchPlan(lengths, 8, seed=4).batch(s) for s in range(30)]
    for indices in steps:
        parts = [shard(indices, r, 2) for r in range(2)]
        assert sorted(parts[0] + parts[1]) == sorted(indices)
        micro = micro_batches(parts[0], lengths, 2)
        assert sorted(micro[0] + micro[1]) == sorted(parts[0])
        assert max(lengths[i] for i in micro[0]) <= min(lengths[i] for i in micro[1])
