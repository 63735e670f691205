"""Probes on a vision model: image / problem / last positions captured with figures, checked against HF's own
hidden states, and the figure_value label."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("PIL")

from tsft.models.images import image_inputs
from tsft.probes.capture import activation_dataset, dataset_rows
from tsft.probes.labels import label_column
from tsft.probes.positions import prompt_positions


def test_positions_split_image_text_and_last(vision_tokenizer, diagram):
    problem = diagram.test[0]
    ids, spans = prompt_positions(problem, vision_tokenizer, ("image", "problem", "frame", "last"))
    image_id = vision_tokenizer.tsft_images.image_token_id
    assert spans["image"] == [p for p, i in enumerate(ids) if i == image_id] and len(spans["image"]) == 16
    assert not set(spans["image"]) & (set(spans["problem"]) | set(spans["frame"]))
    problem_text = vision_tokenizer.decode([ids[p] for p in spans["problem"]])
    assert problem_text.strip() == problem.text
    assert spans["last"] == [len(ids) - 1]


def test_captured_features_equal_hf_hidden_states(qwen_vl, vision_tokenizer, diagram, tmp_path):
    problems, rows = dataset_rows(diagram, kinds=("rotate",), limit=5)
    store, features = activation_dataset(qwen_vl, vision_tokenizer, problems, rows, ["blocks.0.resid_post"],
                                         ["image", "last"], tmp_path / "cache", batch_size=3, progress=False)
    image, last = (store.load(f) for f in features)
    for i, problem in enumerate(problems):
        ids, spans = prompt_positions(problem, vision_tokenizer, ("image",))
        ids = torch.tensor([ids])
        with torch.no_grad():
            hidden = qwen_vl(input_ids=ids, **image_inputs(vision_tokenizer, ids, [problem.image]),
                             output_hidden_states=True).hidden_states
        stream = hidden[1]  # HF's own record of layer 0's output (unpadded, one problem at a time)
        np.testing.assert_allclose(image[i], stream[0, spans["image"]].mean(0).numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(last[i], stream[0, -1].numpy(), rtol=1e-4, atol=1e-5)


def test_figure_value_label_reads_the_figure_only_value(diagram):
    _, rows = dataset_rows(diagram, kinds=("rotate",))
    values = label_column(rows, "figure_value")
    originals = {p.id: p for p in diagram.test}
    for (_, row), value in zip(rows.iterrows(), values, strict=True):
        problem = originals[row["original_id"]]
        assert value == str(problem.meta["figure_value"])  # rotation keeps the value
