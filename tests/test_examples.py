"""The examples/ scripts, run as a user runs them (a subprocess from the repository root), on a tiny random Llama
saved as an HF folder and a small synthetic world, so they cannot rot. Each result is checked against what
must hold, not only that a file appeared."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO


def run_example(name: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "examples" / f"{name}.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


def test_patch_map_example_writes_the_map_and_the_first_residual_restores_the_clean_run(model_dir, tmp_path):
    said = run_example("patch_map", "--model", str(model_dir), "--out", str(tmp_path), "--pairs", "4")
    pairs = pd.read_parquet(tmp_path / "patch" / "pairs.parquet")
    assert (tmp_path / "patch_map.html").is_file() and "pairs patched" in said
    # the whole residual stream entering layer 0 at the one differing word IS the clean input there: patched,
    # the corrupt run becomes the clean run (normalized effect 1) on every pair
    first = pairs[(pairs["component"] == "resid_pre") & (pairs["layer"] == 0) & (pairs["position"] == "diff")]
    assert len(first) == pairs["pair_id"].nunique() > 0
    assert first["normalized"].to_numpy() == pytest.approx(1.0, abs=1e-4)
    # and at spans whose tokens the two problems share, the layer-0 input is the same in both runs: no effect
    same = pairs[(pairs["component"] == "resid_pre") & (pairs["layer"] == 0) & (pairs["position"] != "diff")]
    assert same["normalized"].to_numpy() == pytest.approx(0.0, abs=1e-4)


def test_probe_layer_example_probes_the_layers_asked(model_dir, tmp_path):
    said = run_example("probe_layer", "--model", str(model_dir), "--out", str(tmp_path), "--layers", "0,1",
                       "--limit", "200")
    table = pd.read_parquet(tmp_path / "probes.parquet")
    assert set(table["layer"]) == {0, 1} and set(table["label"]) == {"theorem"} and "selectivity" in said
    accuracy = table[(table["metric"] == "accuracy") & (table["kind"] == "original")]["value"]
    assert accuracy.between(0, 1).all()


def test_train_comparison_example_trains_both_targets_and_scores_every_kind(model_dir, tmp_path):
    said = run_example("train_comparison", "--base", str(model_dir), "--out", str(tmp_path), "--steps", "4",
                       "--lr", "1e-3", "--limit", "8", "--kinds", "paraphrase")
    for target in ("answer", "theorem"):
        assert (tmp_path / f"{target}-full" / "model.safetensors").is_file()
        predictions = pd.read_parquet(tmp_path / "eval" / target / "predictions.parquet")
        originals = set(predictions.loc[predictions["kind"] == "original", "original_id"])
        assert len(originals) == 8  # every perturbed row belongs to one of the 8 originals scored
        assert set(predictions.loc[predictions["kind"] == "paraphrase", "original_id"]) <= originals
    assert "robustness (perturbed / original accuracy)" in said and "theorem-SFT: 4 steps" in said


def test_the_readmes_python_section_runs(model_dir, tmp_path, monkeypatch):
    """The README's 'From Python' block, on the tiny model (its layers renumbered to the tiny model's), in a
    scratch folder."""
    text = (REPO / "README.md").read_text().split("## From Python", 1)[1]
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    block = block.replace('get_model("smollm2-135m-instruct")', repr(str(model_dir)))
    block = block.replace("blocks.12.", "blocks.1.").replace("layers=(6, 12, 18)", "layers=(0, 1)")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md (From Python)", "exec"), scope)
    assert scope["meta"]["pairs"] > 0 and set(scope["summary"]["method"]) == {"exact", "attribution", "atp_star"}
    assert tuple(scope["seen"]["blocks.1.mlp_out"].shape[::2]) == (1, scope["model"].config.hidden_size)
    assert set(scope["table"]["layer"]) == {0, 1}
