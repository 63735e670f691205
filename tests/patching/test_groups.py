"""Position-group patching on a tiny random Qwen2.5-VL: exact restorations, a plain-torch hook, the runner."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("PIL")

from tsft.models.images import image_inputs
from tsft.patching.groups import figure_pairs, group_masks, group_patch, run_group_patch


@pytest.fixture(scope="module")
def pairs(vision_tokenizer, diagram):
    found, rejected = figure_pairs(diagram, vision_tokenizer, "theorem")
    assert len(found) >= 8, rejected
    return found


@pytest.fixture(scope="module")
def table(qwen_vl, vision_tokenizer, pairs):
    return group_patch(qwen_vl, vision_tokenizer, pairs[:6], memory_mb=64)


def test_pairs_share_tokens_and_split_at_the_figures_value(vision_tokenizer, diagram, pairs):
    from tsft.models.targets import render_target

    problems = {p.id: p for p in diagram.test} | {r.problem.id: r.problem for r in diagram.perturbed["given_swap"]}
    for pair in pairs:
        assert pair.right != pair.wrong and pair.clean_image != pair.corrupt_image
        assert pair.clean_ids == pair.corrupt_ids
        clean, corrupt = (render_target(problems[i], "theorem") for i in pair.pair_id.split("|"))
        k = next(i for i, (a, b) in enumerate(zip(clean, corrupt, strict=False)) if a != b)
        prefix = vision_tokenizer.decode(list(pair.clean_ids), skip_special_tokens=True).split("Solution:", 1)[1]
        # the shared target text, to the character where the figure's value differs (its space goes with the digit)
        assert prefix == clean[:k].rstrip(" ")
        assert vision_tokenizer.decode([pair.right]).strip() == clean[k]


def cell(table, layer, component, group):
    return table[(table["layer"] == layer) & (table["component"] == component) & (table["group"] == group)]


def test_exact_restorations(table, qwen_vl):
    last_layer = qwen_vl.config.get_text_config().num_hidden_layers - 1
    # the runs differ only in the figure's embeddings: restoring them restores everything, the text nothing
    assert cell(table, 0, "resid_pre", "image")["normalized"].to_numpy() == pytest.approx(1.0, abs=1e-4)
    assert cell(table, 0, "resid_pre", "text")["normalized"].to_numpy() == pytest.approx(0.0, abs=1e-4)
    # the last layer's image positions reach the read-out through no later layer
    for component in ("attn_out", "mlp_out"):
        assert cell(table, last_layer, component, "image")["normalized"].to_numpy() == pytest.approx(0.0, abs=1e-4)


def test_one_cell_against_a_plain_torch_hook(table, qwen_vl, vision_tokenizer, pairs):
    pair = pairs[0]
    ids = torch.tensor([pair.clean_ids])
    clean_in = image_inputs(vision_tokenizer, ids, [pair.clean_image])
    corrupt_in = image_inputs(vision_tokenizer, ids, [pair.corrupt_image])
    mlp = qwen_vl.model.language_model.layers[0].mlp
    saved = {}
    handle = mlp.register_forward_hook(lambda m, a, out: saved.__setitem__("clean", out.detach()))
    with torch.no_grad():
        qwen_vl(input_ids=ids, **clean_in)
    handle.remove()
    mask = group_masks(ids, vision_tokenizer.tsft_images.image_token_id)["image"]
    handle = mlp.register_forward_hook(lambda m, a, out: torch.where(mask[..., None], saved["clean"], out))
    with torch.no_grad():
        logits = qwen_vl(input_ids=ids, **corrupt_in).logits[0, -1]
    handle.remove()
    row = cell(table, 0, "mlp_out", "image")
    row = row[row["pair_id"] == pair.pair_id]
    assert float(row["value"].iloc[0]) == pytest.approx(float(logits[pair.right] - logits[pair.wrong]), abs=1e-4)


def test_runner_writes_groups_and_refuses_text_models(qwen_vl, vision_tokenizer, diagram_dir, tmp_path, llama,
                                                      tokenizer):
    from tsft.models.cards import save_tokenizer

    qwen_vl.save_pretrained(tmp_path / "vl")
    save_tokenizer(vision_tokenizer, tmp_path / "vl")
    frame = run_group_patch(tmp_path / "vl", diagram_dir, tmp_path / "out", target="answer", limit=4,
                            progress=False)
    request = json.loads((tmp_path / "out" / "request.json").read_text())
    assert request["kind"] == "groups" and request["target"] == "answer"
    assert request["pairs"] == frame["pair_id"].nunique()
    assert set(frame["group"]) == {"image", "text", "last"}
    llama.save_pretrained(tmp_path / "text")
    tokenizer.save_pretrained(tmp_path / "text")
    with pytest.raises(ValueError, match=r"needs a Qwen2\.5-VL model"):
        run_group_patch(tmp_path / "text", diagram_dir, tmp_path / "out2", progress=False)
