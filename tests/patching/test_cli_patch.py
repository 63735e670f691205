"""`tsft patch`: sweeps, tracing, cross-checkpoint patching and transplant from folders."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tsft.cli import app
from tsft.common import parse_layers


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_sweep_writes_tidy_tables_and_prints_a_layer_table(model_dirs, data_dir, tmp_path):
    out = tmp_path / "sweep"
    code, output = invoke("patch", "sweep", "--model", model_dirs[0], "--data", data_dir, "--out", out,
                          "--method", "both", "--limit", "4", "--target", "theorem")
    assert code == 0, output
    assert "mlp_out" in output and "attribution vs exact" in output
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert set(pairs["method"]) == {"exact", "attribution"} and pairs["pair_id"].nunique() == 4
    request = json.loads((out / "request.json").read_text())
    assert request["request"]["components"] == ["resid_pre", "attn_out", "mlp_out"]
    assert request["pairs"] == 4 and "pearson" in request["attribution_vs_exact"]
    code, output = invoke("patch", "sweep", "--model", model_dirs[0], "--data", data_dir, "--out", out)
    assert code == 2 and "exists" in output


def refused_sweep(model_dirs, data_dir, out, *extra) -> str:
    """The output of a `tsft patch sweep` that must exit 2."""
    code, output = invoke("patch", "sweep", "--model", model_dirs[0], "--data", data_dir, "--out", out, *extra)
    assert code == 2, output
    return output


def test_sweep_rejects_bad_requests(model_dirs, data_dir, tmp_path):
    assert "unknown component" in refused_sweep(model_dirs, data_dir, tmp_path / "x", "--components", "mlp_output")
    assert "layers 0-1" in refused_sweep(model_dirs, data_dir, tmp_path / "x", "--layers", "7")
    assert "unknown dtype" in refused_sweep(model_dirs, data_dir, tmp_path / "x", "--dtype", "float8")
    assert not (tmp_path / "x").exists()
    assert parse_layers("0-2,5") == (0, 1, 2, 5) and parse_layers(None) is None


def test_trace_cross_and_transplant_commands(model_dirs, data_dir, tmp_path):
    a, b = model_dirs
    code, output = invoke("patch", "trace", "--model", a, "--data", data_dir, "--out", tmp_path / "trace",
                          "--subject", "name", "--limit", "2", "--samples", "2")
    assert code == 0, output
    code, output = invoke("patch", "cross", "--a", a, "--b", b, "--data", data_dir, "--out", tmp_path / "cross",
                          "--limit", "3", "--random-draws", "2")
    assert code == 0, output
    cross = pd.read_parquet(tmp_path / "cross" / "pairs.parquet")
    assert set(cross["method"]) == {"cross", "random"} and cross["corrupt"].gt(0).all()
    assert set(cross.loc[cross["method"] == "random", "draw"]) == {0, 1}
    assert (cross.groupby("method").size() == [len(cross) // 3, 2 * len(cross) // 3]).all()
    code, output = invoke("patch", "transplant", "--a", a, "--b", b, "--data", data_dir, "--out",
                          tmp_path / "transplant", "--limit", "2", "--kinds", "original,paraphrase")
    assert code == 0, output
    frame = pd.read_parquet(tmp_path / "transplant" / "transplant.parquet")
    assert set(frame["kind"]) == {"original", "paraphrase"}
    assert set(frame["layers"]) == {"none", "source", "0", "1", "0-1"}


def test_surface_pairs_need_a_metric_without_a_wrong_token(model_dirs, data_dir, tmp_path):
    args = ("patch", "sweep", "--model", model_dirs[0], "--data", data_dir, "--pairs", "surface", "--limit", "3",
            "--target", "answer", "--components", "mlp_out")
    code, output = invoke(*args, "--out", tmp_path / "ld")
    assert code == 2 and "targets agree" in output
    code, output = invoke(*args, "--out", tmp_path / "kl", "--metric", "kl")
    assert code == 0, output
    summary = pd.read_parquet(tmp_path / "kl" / "summary.parquet")
    assert set(summary["pair_type"]) <= {"surface:entity_rename", "surface:letter_rename"}
    assert "normalized_of_mean" in summary.columns


@pytest.mark.parametrize(("extra", "message"), [(["--engine", "foo"], "unknown engine 'foo'; choose one of hooks"),
                                                (["--layers", "7"], "layer 7 is out of range"),
                                                (["--components", "mlp"], "unknown component(s) ['mlp']")])
def test_sweep_checks_what_it_can_before_loading_the_model(model_dirs, data_dir, tmp_path, monkeypatch, extra,
                                                           message):

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the request was checked")

    import tsft.patching.run

    monkeypatch.setattr(tsft.patching.run, "load_checkpoint", refuse)
    code, output = invoke("patch", "sweep", "--model", model_dirs[0], "--data", data_dir, "--out", tmp_path / "x",
                          *extra)
    assert code == 2 and message in " ".join(output.split()), output
    assert not (tmp_path / "x").exists()


def test_spectral_finds_an_mlp_only_update_and_restore_reports_each_k(model_dirs, data_dir, tmp_path):
    """B tuned A's MLPs only: its attention matrices did not move, its MLP matrices did; restoring all of B's
    update into A behaves as B itself."""
    a, b = model_dirs
    code, output = invoke("patch", "spectral", "--base", a, "--model", b, "--model", a, "--pair", "b,a",
                          "--out", tmp_path / "spectral", "--k", "2")
    assert code == 0, output
    spectral = pd.read_parquet(tmp_path / "spectral" / "spectral.parquet")
    tuned = spectral[spectral["model"] == "b"].groupby("block")["change"].max()
    assert tuned["attn"] == 0 and tuned["mlp"] > 0
    assert set(pd.read_parquet(tmp_path / "spectral" / "overlap.parquet")["block"]) == {"attn", "mlp"}
    code, output = invoke("patch", "spectral", "--base", a, "--model", b, "--pair", "b", "--out", tmp_path / "x")
    assert code == 2 and "two checkpoint names" in output
    code, output = invoke("patch", "restore", "--base", a, "--model", b, "--data", data_dir, "--out",
                          tmp_path / "restore", "--k", "1,100000", "--kinds", "original", "--limit", "3")
    assert code == 0, output
    restore = pd.read_parquet(tmp_path / "restore" / "restore.parquet").set_index("k")["accuracy"]
    assert list(restore.index) == ["base", "1", "100000", "checkpoint"]
    assert restore["100000"] == restore["checkpoint"]  # every direction restored = the checkpoint


def test_sweep_puts_ablations_beside_patching_and_writes_faithfulness(model_dirs, data_dir, tmp_path):
    out = tmp_path / "ablate"
    code, output = invoke("patch", "sweep", "--model", model_dirs[0], "--data", data_dir, "--out", out, "--limit",
                          "3", "--target", "theorem", "--positions", "all", "--ablations", "zero,mean,resample",
                          "--faithfulness", "0,2,6")
    assert code == 0, output
    assert "faithfulness of the top-k sites" in output
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert set(pairs["method"]) == {"exact", "zero", "mean", "resample"}
    per_method = pairs.groupby("method").size()
    assert per_method.nunique() == 1  # the same conditions under each
    curve = pd.read_parquet(out / "faithfulness.parquet").set_index(["ablation", "k"])["faithfulness"]
    for mode in ("zero", "mean", "resample"):
        assert curve[(mode, 0)] == pytest.approx(0.0) and curve[(mode, 6)] == pytest.approx(1.0)
    assert "unknown ablation" in refused_sweep(model_dirs, data_dir, tmp_path / "y", "--ablations", "gaussian")
    assert "need --method exact or both or all and at least one --ablations" in refused_sweep(
        model_dirs, data_dir, tmp_path / "y", "--faithfulness", "2")
