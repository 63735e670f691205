"""Activation datasets: values against an independent forward, padding, the cache's round trip,
reuse, resume after a kill, and refusal of a mismatched cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tsft.patching.pairs import prompt_side
from tsft.probes.capture import activation_dataset, capture, dataset_rows, open_cache
from tsft.probes.store import CacheMismatch

from tests.conftest import tiny

SITES = ["blocks.0.resid_post", "blocks.0.mlp_out"]


@pytest.fixture(scope="module")
def rows_and_problems(dataset):
    problems, rows = dataset_rows(dataset, "test", ["entity_rename"], limit=10)
    return problems, rows


def hand_features(model, tokenizer, problem):
    """resid_post of layer 0 from `output_hidden_states` on the unpadded prompt, at the last token and
    averaged over the problem text's tokens (found from character offsets here)."""
    ids, offsets, (start, end) = prompt_side(problem, tokenizer)
    with torch.no_grad():
        hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[1][0]
    inside = [p for p, (a, b) in enumerate(offsets) if a < end and b > start and p != len(ids) - 1]
    return hidden[-1].numpy(), hidden[inside].mean(0).numpy()


def test_rows_pair_each_original_with_its_perturbed_versions(rows_and_problems, dataset):
    problems, rows = rows_and_problems
    originals = rows[rows["kind"] == "original"]
    assert len(originals) == 10 and set(rows["kind"]) == {"original", "entity_rename"}
    perturbed = rows[rows["kind"] == "entity_rename"]
    assert set(perturbed["original_id"]) <= set(originals["problem_id"])
    assert rows["theorem"].tolist() == [p.theorem_ids[0] for p in problems]


def test_captured_values_match_an_unpadded_hand_forward(tokenizer, rows_and_problems, tmp_path):
    problems, rows = rows_and_problems
    model = tiny(tokenizer)
    store, features = activation_dataset(model, tokenizer, problems, rows, SITES, ["last", "problem"],
                                         tmp_path / "cache", batch_size=4, shard_rows=6, progress=False)
    assert features == ["blocks.0.resid_post@last", "blocks.0.resid_post@problem", "blocks.0.mlp_out@last",
                        "blocks.0.mlp_out@problem"]
    last, problem = store.load(features[0]), store.load(features[1])
    assert last.shape == (len(rows), model.config.hidden_size) and store.n_shards == -(-len(rows) // 6)
    for i in (0, 3, len(rows) - 1):
        want_last, want_problem = hand_features(model, tokenizer, problems[i])
        np.testing.assert_allclose(last[i], want_last, atol=1e-5)
        np.testing.assert_allclose(problem[i], want_problem, atol=1e-5)
    assert (store.rows()["problem_id"] == rows["problem_id"]).all()


def test_the_cache_is_reused_without_running_the_model(tokenizer, rows_and_problems, tmp_path, monkeypatch):
    problems, rows = rows_and_problems
    model = tiny(tokenizer)
    store, features = activation_dataset(model, tokenizer, problems, rows, SITES, ["last"], tmp_path / "c",
                                         progress=False)
    first = store.load(features[0])

    def no_forward(*args, **kwargs):
        raise AssertionError("the model ran although the cache holds every feature")

    monkeypatch.setattr("tsft.probes.capture.HooksEngine.capture", no_forward)
    again, _ = activation_dataset(model, tokenizer, problems, rows, SITES, ["last"], tmp_path / "c", progress=False)
    np.testing.assert_array_equal(again.load(features[0]), first)


def test_a_killed_capture_resumes_and_loses_nothing(tokenizer, rows_and_problems, tmp_path, monkeypatch):
    import tsft.probes.capture as capture_module

    problems, rows = rows_and_problems
    model = tiny(tokenizer)
    features = ["blocks.0.resid_post@last"]
    reference = open_cache(tmp_path / "ref", model, tokenizer, problems, rows, shard_rows=4)
    capture(reference, model, tokenizer, problems, features, batch_size=4, progress=False)

    real, calls = capture_module._batch_values, []

    def dies_on_third_batch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    store = open_cache(tmp_path / "killed", model, tokenizer, problems, rows, shard_rows=4)
    monkeypatch.setattr(capture_module, "_batch_values", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        capture(store, model, tokenizer, problems, features, batch_size=4, progress=False)
    reopened = open_cache(tmp_path / "killed", model, tokenizer, problems, rows, shard_rows=4)
    assert reopened.done(features[0]) == 2
    monkeypatch.setattr(capture_module, "_batch_values", real)
    capture(reopened, model, tokenizer, problems, features, batch_size=4, progress=False)
    np.testing.assert_array_equal(reopened.load(features[0]), reference.load(features[0]))


def test_a_cache_of_another_model_or_problem_list_is_refused(tokenizer, rows_and_problems, tmp_path):
    problems, rows = rows_and_problems
    activation_dataset(tiny(tokenizer, seed=0), tokenizer, problems, rows, SITES[:1], ["last"], tmp_path / "c",
                       model_name="model-a", progress=False)
    with pytest.raises(CacheMismatch, match=r"another model: cached \w+ \(model-a\)"):
        activation_dataset(tiny(tokenizer, seed=1), tokenizer, problems, rows, SITES[:1], ["last"], tmp_path / "c",
                           model_name="model-b", progress=False)
    with pytest.raises(CacheMismatch, match="another problem list"):
        activation_dataset(tiny(tokenizer, seed=0), tokenizer, problems[:-1], rows[:-1], SITES[:1], ["last"],
                           tmp_path / "c", model_name="model-a", progress=False)


def test_bad_sites_and_positions_are_named(tokenizer, rows_and_problems, tmp_path):
    from tsft.patching.sites import SiteError

    problems, rows = rows_and_problems
    model = tiny(tokenizer)
    with pytest.raises(SiteError, match="layers 0-1"):
        activation_dataset(model, tokenizer, problems, rows, ["blocks.9.resid_post"], ["last"], tmp_path / "c")
    with pytest.raises(ValueError, match="unknown position 'first'"):
        activation_dataset(model, tokenizer, problems, rows, SITES, ["first"], tmp_path / "c")
    assert not (tmp_path / "c").exists()
