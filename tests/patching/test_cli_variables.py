"""`tsft patch das` and `tsft patch deltas` from folders, on a tiny random Llama and an MLP-only-tuned copy.

DAS's table is checked against two exact properties of the full-vector patch on swap pairs (the two prompts
differ only at the ask word): swapping layer 0's input at the last position changes nothing (both prompts end in
the same token), so no example follows its label (IIA 0); swapping the last layer's output at the last position
gives the other prompt's next-token prediction, which with the model's own labels is the label (IIA 1).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tsft.cli import app


@pytest.fixture(scope="module")
def lively_dir(tmp_path_factory, tokenizer):
    """A tiny random Llama with its matrices drawn at std 0.1 (not 0.02): at the default scale its next token
    never depends on the ask word, so no example would have a label to follow."""
    import torch

    from tests.conftest import tiny

    model, generator = tiny(tokenizer), torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2:
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
    out = tmp_path_factory.mktemp("lively") / "lively"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_das_writes_its_tables_and_the_full_patch_is_exact_where_it_must_be(lively_dir, data_dir, tmp_path):
    out = tmp_path / "das"
    code, output = invoke("patch", "das", "--model", lively_dir, "--data", data_dir, "--out", out,
                          "--components", "resid_pre,resid_post", "--layers", "0-1", "--k", "1,2", "--limit", "32",
                          "--epochs", "2", "--labels", "model", "--target", "theorem")
    assert code == 0, output
    assert "held-out IIA" in output
    table = pd.read_parquet(out / "das.parquet")
    assert set(table["method"]) == {"das", "das_used", "random", "pca", "full"}
    assert set(table["split"]) == {"train", "heldout_pairs", "heldout_templates"}
    assert set(table.loc[table["method"] == "das", "k"]) == {1, 2}
    swap = table[(table["method"] == "full") & (table["pairing"] == "swap") & (table["n"] > 0)]
    same = swap[(swap["component"] == "resid_pre") & (swap["layer"] == 0) & (swap["position"] == "last")]
    final = swap[(swap["component"] == "resid_post") & (swap["layer"] == 1) & (swap["position"] == "last")]
    assert len(same) == len(final) == 3 and (same["iia"] == 0).all() and (final["iia"] == 1).all()
    request = json.loads((out / "request.json").read_text())
    assert request["request"]["labels"] == "model" and request["examples"]["train"]["swap"] > 0
    from safetensors.torch import load_file

    bases = load_file(out / "bases.safetensors")
    assert bases["blocks.1.resid_post|ask|k2"].shape == (2, 128) and len(bases) == 2 * 2 * 2 * 2
    first = pd.read_parquet(out / "first.parquet")
    assert {"model", "k", "position", "method", "layer", "component", "iia"} <= set(first.columns)


def test_a_scan_reads_the_full_patch_everywhere_and_fits_where_it_first_carries_the_variable(lively_dir, data_dir,
                                                                                           tmp_path):
    out = tmp_path / "scan"
    code, output = invoke("patch", "das", "--model", lively_dir, "--data", data_dir, "--out", out,
                          "--components", "resid_pre,resid_post", "--layers", "1", "--k", "1", "--limit", "32",
                          "--epochs", "1", "--labels", "model", "--target", "theorem", "--scan")
    assert code == 0, output
    table = pd.read_parquet(out / "das.parquet")
    full = table[table["method"] == "full"]
    assert set(full["layer"]) == {0, 1}  # both layers scanned though only layer 1 was asked for
    held = full[(full["split"] == "heldout_pairs") & (full["pairing"] == "all")]
    expected = {(c, 1, p) for c in ("resid_pre", "resid_post") for p in ("last", "ask")}
    for (component, position), group in held.groupby(["component", "position"]):
        reached = group.loc[group["iia"] >= 0.8, "layer"]
        if len(reached):
            expected |= {(component, layer, position) for layer in range(max(0, reached.min() - 2), reached.min() + 1)}
    fitted = table[table["method"] == "das"]
    assert set(zip(fitted["component"], fitted["layer"], fitted["position"], strict=True)) == expected
    # swapping layer 0's input at the ask word makes the prompt its sibling (IIA 1 with the model's labels), so
    # the scan fits there though --layers did not ask for layer 0
    assert ("resid_pre", 0, "ask") in expected
    assert len(full) == len(full.drop_duplicates(["layer", "component", "position", "split", "pairing"]))


@pytest.mark.parametrize(("args", "said"), [
    (("--k", "0"), "bad --k '0'"),
    (("--positions", "middle"), "unknown DAS position 'middle'"),
    (("--labels", "mine"), "unknown DAS labels 'mine'"),
    (("--layers", "7"), "layer 7 is out of range"),
])
def test_das_refuses_bad_input_before_any_work(model_dirs, data_dir, tmp_path, args, said):
    code, output = invoke("patch", "das", "--model", model_dirs[0], "--data", data_dir, "--out", tmp_path / "o",
                          *args)
    assert code == 2 and said in output, output
    assert not (tmp_path / "o").exists()


def test_deltas_prints_accuracy_per_variant(model_dirs, data_dir, tmp_path):
    out = tmp_path / "deltas"
    code, output = invoke("patch", "deltas", "--base", model_dirs[0], "--model", model_dirs[1], "--data", data_dir,
                          "--out", out, "--limit", "2", "--kinds", "paraphrase", "--variants", "base,attn,all")
    assert code == 0, output
    frame = pd.read_parquet(out / "deltas.parquet")
    assert set(frame["variant"]) == {"base", "attn", "all"} and set(frame["kind"]) == {"original", "paraphrase"}
    outputs = {v: list(g.sort_values("problem_id")["output"]) for v, g in frame.groupby("variant")}
    assert outputs["attn"] == outputs["base"]  # B differs from A in its MLPs only
    code, output = invoke("patch", "deltas", "--base", model_dirs[0], "--model", model_dirs[1], "--data", data_dir,
                          "--out", tmp_path / "o2", "--variants", "ffn")
    assert code == 2 and "unknown delta variant 'ffn'" in output
