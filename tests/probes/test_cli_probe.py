"""`tsft probe run|causal` from folders: tidy tables, a comparison of two checkpoints, cache reuse,
and bad input refused with what is wrong."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tsft.probes.run import RESULT_COLUMNS
from typer.testing import CliRunner

from tsft.cli import app


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tokenizer):
    """Two tiny random Llamas saved as HF folders, and a data folder with 60 test originals."""
    from tsft.tasks.build import build_synthetic
    from tsft.tasks.world.generate import WorldConfig

    from tests.conftest import tiny

    root = tmp_path_factory.mktemp("probe-folders")
    for seed, name in ((0, "a"), (1, "b")):
        tiny(tokenizer, seed=seed).save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    build_synthetic(WorldConfig(seed=0, n_train=16, n_test=60), root / "data")
    return root


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_run_compares_checkpoints_in_one_tidy_table_and_reuses_caches(folders, tmp_path):
    out = tmp_path / "probe"
    args = ["probe", "run", "--model", folders / "a", "--model", folders / "b", "--data", folders / "data",
            "--out", out, "--components", "resid_post,mlp_out", "--layers", "1", "--folds", "3",
            "--kinds", "entity_rename,paraphrase"]
    code, output = invoke(*args)
    assert code == 0, output
    assert "probe for 'theorem'" in output and "a acc" in output and "b sel" in output
    frame = pd.read_parquet(out / "probes.parquet")
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert set(frame["model"]) == {"a", "b"} and set(frame["site"]) == {"blocks.1.resid_post", "blocks.1.mlp_out"}
    assert {"accuracy", "control_accuracy", "selectivity", "majority", "transfer", "mdl_bits"} <= set(frame["metric"])
    assert set(frame.loc[frame["metric"] == "transfer", "kind"]) == {"entity_rename", "paraphrase"}
    request = json.loads((out / "request.json").read_text())
    assert "cue" in request["models"]["a"]["skipped"] and "one class only" in request["models"]["a"]["skipped"]["cue"]
    caches = sorted((out / "activations").iterdir())
    assert len(caches) == 2
    stamps = [(c / "cache.json").stat().st_mtime_ns for c in caches]

    code, output = invoke(*args)
    assert code == 2 and "exists" in output
    code, output = invoke(*args, "--overwrite")
    assert code == 0, output
    assert [(c / "cache.json").stat().st_mtime_ns for c in caches] == stamps  # nothing captured again
    pd.testing.assert_frame_equal(pd.read_parquet(out / "probes.parquet"), frame)


@pytest.mark.parametrize(("extra", "message"), [
    (["--labels", "cue"], "one class only"),
    (["--labels", "theorem", "--folds", "100"], "for 100 folds"),
    (["--layers", "5"], "layers 0-1"),
    (["--components", "mlp"], "unknown component"),
    (["--labels", "template", "--group", "template"], "cannot be its own group key"),
    (["--labels", "colour"], "unknown label 'colour'"),
    (["--positions", "first"], "unknown position"),
    (["--labels", "domain", "--folds", "40", "--limit", "60", "--group", "none"],
     "domain: every class has fewer than 40 examples"),
])
def test_bad_requests_are_refused_with_the_reason(folders, tmp_path, extra, message):
    code, output = invoke("probe", "run", "--model", folders / "a", "--data", folders / "data", "--out",
                          tmp_path / "x", "--no-mdl", *extra)
    assert code == 2 and message in " ".join(output.split()), output
    assert not (tmp_path / "x" / "probes.parquet").exists()


@pytest.mark.parametrize("extra", [["--labels", "theorm"], ["--positions", "first"], ["--components", "mlp"]])
def test_what_can_be_checked_without_the_model_is_checked_before_any_capture(folders, tmp_path, extra):
    code, _ = invoke("probe", "run", "--model", folders / "a", "--data", folders / "data", "--out", tmp_path / "x",
                     "--no-mdl", *extra)
    assert code == 2 and not (tmp_path / "x").exists()


def test_a_cache_of_another_model_is_refused(folders, tmp_path):
    base = ["--data", folders / "data", "--layers", "0", "--components", "resid_post", "--labels", "domain",
            "--no-mdl", "--cache", tmp_path / "cache"]
    code, output = invoke("probe", "run", "--model", folders / "a", "--out", tmp_path / "one", *base)
    assert code == 0, output
    code, output = invoke("probe", "run", "--model", folders / "b", "--out", tmp_path / "two", *base)
    assert code == 2 and "another model" in output


def test_causal_compares_probe_and_random_subspaces_of_one_rank(folders, tmp_path):
    out = tmp_path / "causal"
    code, output = invoke("probe", "causal", "--model", folders / "a", "--data", folders / "data", "--out", out,
                          "--site", "blocks.0.resid_post", "--label", "domain", "--method", "inlp", "--iterations", "2",
                          "--random-draws", "2", "--problems", "3", "--folds", "3")
    assert code == 0, output
    frame = pd.read_parquet(out / "causal.parquet")
    assert set(frame["condition"]) == {"none", "inlp", "random"}
    ranks = frame.groupby("condition")["rank"].max()
    assert ranks["none"] == 0 and ranks["inlp"] == ranks["random"] > 0
    assert {"answer_accuracy", "theorem_identified", "probe_accuracy"} <= set(frame["metric"])
    accuracy = frame[frame["metric"] == "probe_accuracy"].groupby("condition")["value"].mean()
    assert accuracy["inlp"] <= accuracy["none"]


def test_causal_erases_with_leace_by_default_and_reports_the_oracle_and_edit_size(folders, tmp_path):
    out = tmp_path / "leace"
    code, output = invoke("probe", "causal", "--model", folders / "a", "--data", folders / "data", "--out", out,
                          "--site", "blocks.1.resid_post", "--label", "domain", "--random-draws", "1",
                          "--problems", "3", "--folds", "3")
    assert code == 0, output
    frame = pd.read_parquet(out / "causal.parquet")
    assert set(frame["condition"]) == {"none", "leace", "oracle", "random"}
    value = frame.pivot_table(index="condition", columns="metric", values="value")
    assert value.loc["leace", "probe_accuracy"] <= value.loc["leace", "probe_majority"] + 0.1
    assert value.loc["none", "mean_sq_change"] == 0 and value.loc["leace", "mean_sq_change"] > 0
    assert value.loc["oracle", "mean_sq_change"] <= value.loc["leace", "mean_sq_change"] + 1e-9
    assert pd.isna(value.loc["oracle"].get("answer_accuracy"))  # the oracle erases activations only
    code, output = invoke("probe", "causal", "--model", folders / "a", "--data", folders / "data", "--out",
                          tmp_path / "scrub", "--site", "blocks.1.resid_post", "--label", "domain", "--scrub",
                          "--random-draws", "1", "--problems", "3", "--folds", "3")
    assert code == 0, output
    scrubbed = pd.read_parquet(tmp_path / "scrub" / "causal.parquet")
    assert set(scrubbed.loc[scrubbed["condition"] == "leace", "layers"]) == {2}  # layers 0 and 1 at once
    assert not list((tmp_path / "scrub").glob(".scrub-*"))  # scratch captures cleaned up


def test_the_probe_commands_defaults_are_the_requests():
    """`tsft probe run` keeps its defaults beside the command (the command line loads no torch to show them); this
    holds them to ProbeRequest's and ProbeConfig's, so the command and the Python API cannot drift apart."""
    import inspect

    from tsft.probes.fitting import ProbeConfig
    from tsft.probes.run import ProbeRequest

    from tsft.cli_probe import run_command

    given = {name: p.default for name, p in inspect.signature(run_command).parameters.items()}
    request, config = ProbeRequest(), ProbeConfig()
    assert tuple(given["components"].split(",")) == request.components
    assert (given["layers"], given["labels"], given["kinds"], given["split"], given["limit"]) == (
        request.layers, request.labels, request.kinds, request.split, request.limit)
    assert (given["positions"], given["batch_size"]) == (",".join(request.positions), request.batch_size)
    assert (given["folds"], given["c"], given["seed"], given["mdl"], given["control"]) == (
        config.folds, config.C, config.seed, config.mdl, config.control)
