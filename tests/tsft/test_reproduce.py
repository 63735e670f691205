"""`tsft reproduce`: the smoke preset end to end, killed mid-run and continued; plans; refused resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tsft.presets import PRESETS, preset
from tsft.reproduce import check_meta, identity
from tsft.reproduce import reproduce as run_reproduce
from tsft.stages import Inputs, plan

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
VERDICTS = {"supported", "not supported", "inconclusive"}


def tsft(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tsft", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kwargs)


def wait_for(condition, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"finished before the kill point:\n{process.stdout.read()}")
        if time.time() > deadline:
            raise AssertionError("kill point not reached")
        time.sleep(0.2)


def mtimes(paths) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in paths}


@pytest.mark.slow
def test_smoke_preset_killed_mid_run_continues_and_reports(tmp_path):
    run = tmp_path / "run"
    first = tsft("reproduce", "--preset", "smoke", "--out", str(run), "--no-png")
    # a finished evaluation (not one still in its hidden temporary folder, about to be renamed into place)
    wait_for(lambda: any(not p.parent.name.startswith(".") for p in (run / "eval").glob("*/summary.csv")), first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished = [run / "base" / "run_card.json", *run.glob("sft/*/run_card.json"), *run.glob("eval/*/summary.csv")]
    before = mtimes(finished)
    # + mlp:L-L per layer and two random-location runs
    assert len(list(run.glob("sft/*/run_card.json"))) == 9 + 2 + 2 and not (run / "report.html").exists()

    second = tsft("reproduce", "--preset", "smoke", "--out", str(run), "--no-png")
    output, _ = second.communicate(timeout=600)
    assert second.returncode == 0, output
    assert "data: data skipped (done)" in output and "base: base skipped (done)" in output
    assert output.count("skipped (done)") >= 2 + 13 + 1
    assert mtimes(finished) == before  # nothing finished was redone
    assert "PNG skipped" not in output  # --no-png asked for none

    claims = pd.read_parquet(run / "tables" / "claims.parquet")
    assert list(claims["claim"]) == ["C1", "C2", "C3", "C4"] and set(claims["verdict"]) <= VERDICTS
    for name in ("accuracy", "selection", "patch_map", "probes", "weights", "transplant", "cross", "e7", "traces",
                 "readings", "run_peaks", "contamination", "spectral", "overlap", "controls", "estimates", "ablations",
                 "ablation_agreement", "faithfulness", "erasure", "restore", "effective_robustness"):
        assert not pd.read_parquet(run / "tables" / f"{name}.parquet").empty, name
    from tsft.figures.render import FIGURES

    assert len(list((run / "figures").glob("F*.html"))) == len(FIGURES)
    assert "| C4 |" in (run / "summary.md").read_text()  # the numbers, written from the tables
    controls = pd.read_parquet(run / "tables" / "controls.parquet").set_index("control")
    assert controls.loc["random blocks of equal size", "draws"] > 0  # the inside patch job recorded block sizes
    assert "random blocks of one window's size" in controls.index      # the transplant's random draws
    assert controls.loc["random blocks of one MLP's size, tuned", "draws"] == 2  # E7's random-location runs
    assert set(pd.read_parquet(run / "tables" / "estimates.parquet")["estimate"]) == {"attribution", "atp_star"}
    assert set(pd.read_parquet(run / "tables" / "readings.parquet")["reading"]) == {"final", "matched", "ood_peak"}
    kept = [f"{c.parent.parent.name}-step{int(c.name[5:])}" for c in run.glob("sft/*-full-s0/checkpoints/step-*")]
    assert kept and all(len(list(run.glob(f"eval-*/{name}/summary.csv"))) == 1 for name in kept)  # each once
    e7 = pd.read_parquet(run / "tables" / "e7.parquet")
    assert e7["evidence"].iloc[0] == "per-layer MLP runs (accuracy)" and e7["n_layers"].iloc[0] == 2
    meta = json.loads((run / "reproduce.json").read_text())
    assert {"sft", "eval", "analysis"} <= set(meta["stages"]) and meta["wall_seconds"] > 0
    report = (run / "report.html").read_text()
    assert all(c in report for c in ("C1", "C2", "C3", "C4")) and meta["git_commit"] in report

    tables = mtimes((run / "tables").glob("*.parquet"))
    rendered_before = (run / "report.html").stat().st_mtime_ns
    again = subprocess.run([sys.executable, "-m", "tsft", "figures", str(run), "--no-png"], env=ENV,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert mtimes((run / "tables").glob("*.parquet")) == tables  # re-rendered, nothing recomputed
    assert (run / "report.html").stat().st_mtime_ns > rendered_before
    recomputed = subprocess.run([sys.executable, "-m", "tsft", "analyze", str(run), "--no-png"], env=ENV,
                                capture_output=True, text=True, timeout=300)
    assert recomputed.returncode == 0, recomputed.stdout + recomputed.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(run / "tables" / "claims.parquet"), claims)  # seeded bootstrap


def test_every_variant_is_planned_with_its_own_learning_rate(tmp_path):
    smoke = preset("smoke")
    jobs = plan("sft", Inputs(tmp_path), smoke)
    assert sorted(j.name for j in jobs) == sorted(f"{t}-{p}-s0" for t in ("answer", "solution", "theorem")
                                                  for p in ("full", "mlp", "attn"))
    assert {j.kwargs["params"]: j.kwargs["lr"] for j in jobs} == {"full": 1e-3, "mlp": 3e-3, "attn": 3e-3}
    transplant = {j.name for j in plan("transplant", Inputs(tmp_path), smoke)}
    assert transplant == {"theorem-mlp-s0->answer-mlp-s0", "base->theorem-mlp-s0"}


def test_curve_evaluations_cover_kept_full_tuning_checkpoints_once(tmp_path):
    """eval-curve plans every kept checkpoint of the full-tuning runs, none of other selections, none twice."""
    for run in ("theorem-full-s0", "answer-full-s0", "theorem-mlp-s0"):
        for step in (4, 8):
            folder = tmp_path / "sft" / run / "checkpoints" / f"step-{step:06d}"
            folder.mkdir(parents=True)
            (folder / "config.json").write_text("{}")
    jobs = plan("eval-curve", Inputs(tmp_path), preset("smoke"))
    assert sorted(j.name for j in jobs) == [f"{r}-full-s0-step{s}" for r in ("answer", "theorem") for s in (4, 8)]
    assert {j.output.parent.parent.name for j in jobs} == {"eval-curve"}


def test_per_layer_runs_follow_the_base_depth(tmp_path):
    inputs = Inputs(tmp_path)
    assert not [j for j in plan("sft", inputs, preset("smoke")) if ":" in j.kwargs["params"]]  # no base yet
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 3}))
    for name in ("model.safetensors", "tokenizer.json"):  # what a model folder has (the planner reads its config)
        (tmp_path / "base" / name).write_text("{}")
    layer_jobs = [j for j in plan("sft", inputs, preset("smoke")) if ":" in j.kwargs["params"]]
    assert [j.name for j in layer_jobs] == [f"theorem-mlp_{i}-{i}-s0" for i in range(3)] + \
        [f"theorem-random_{d}-s0" for d in range(2)]       # E7's random-location runs beside the per-layer ones
    assert {j.kwargs["lr"] for j in layer_jobs} == {3e-3}  # the random ones at the per-layer runs' rate
    assert not [j for j in plan("sft", inputs, preset("quick")) if ":" in j.kwargs["params"]]


def test_given_model_and_data_replace_the_built_ones(tmp_path):
    inputs = Inputs(tmp_path / "run", model=tmp_path / "llama", data=tmp_path / "math")
    assert plan("data", inputs, preset("smoke")) == [] and plan("base", inputs, preset("smoke")) == []
    sft = plan("sft", inputs, preset("smoke"))
    assert {j.kwargs["base"] for j in sft} == {tmp_path / "llama"} and {j.kwargs["data"] for j in sft} == {
        tmp_path / "math"}


def test_a_run_folder_refuses_other_settings_naming_them(tmp_path):
    meta = {"preset": PRESETS["smoke"].to_dict(), "inputs": {"model": None, "data": None, "seed": 0}}
    (tmp_path / "reproduce.json").write_text(json.dumps({**meta, "stages": {}}))
    assert check_meta(tmp_path / "reproduce.json", {**meta, "preset": {**meta["preset"], "jobs": 7}})  # jobs may change
    with pytest.raises(ValueError, match=r"preset.sft_steps: 8 -> 9"):
        run_reproduce(Inputs(tmp_path), PRESETS["smoke"].__class__(**{**PRESETS["smoke"].to_dict(), "sft_steps": 9}))
    assert identity(meta)["preset"]["name"] == "smoke"


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="unknown preset 'huge'; choose one of smoke, quick, paper"):
        preset("huge")


def test_a_failing_job_in_a_worker_reports_its_own_error(tmp_path):
    from tsft import jobs
    from tsft.reproduce import StageError, run_stage
    from tsft.stages import Job

    planned = [Job("eval", f"missing-{i}", jobs.evaluate, tmp_path / f"out{i}" / "summary.csv",
                {"out": tmp_path / f"out{i}", "model": tmp_path / "no-model", "data": tmp_path / "no-data",
                 "kinds": None, "limit": 1}) for i in range(2)]
    with pytest.raises(StageError, match=r"stage eval, job missing-\d: .*no-model"):
        run_stage(planned, 2, lambda job, seconds: None)


def test_a_job_whose_arguments_do_not_fit_its_runner_fails_when_planned(tmp_path):
    from tsft import jobs
    from tsft.stages import Job

    with pytest.raises(TypeError, match=r"job eval/x: evaluate\(\) .*'limt'"):
        Job("eval", "x", jobs.evaluate, tmp_path / "summary.csv",
            {"out": tmp_path, "model": tmp_path, "data": tmp_path, "kinds": None, "limit": 1, "limt": 1})
    with pytest.raises(TypeError, match=r"job eval/y: evaluate\(\) missing .*'limit'"):
        Job("eval", "y", jobs.evaluate, tmp_path / "summary.csv",
            {"out": tmp_path, "model": tmp_path, "data": tmp_path, "kinds": None})


def test_without_plotly_the_tables_are_written_and_figures_deferred(tmp_path, monkeypatch):
    from tsft.reproduce import analyze

    monkeypatch.setitem(sys.modules, "tsft.figures.render", None)  # import fails as on a torch-only GPU box
    said = []
    claims = analyze(tmp_path, {}, log=said.append)
    assert list(claims["claim"]) == ["C1", "C2", "C3", "C4"]
    assert (tmp_path / "tables" / "claims.parquet").is_file() and not (tmp_path / "report.html").exists()
    assert len(said) == 1 and f"tsft figures {tmp_path}" in said[0]


def test_cli_names_bad_presets_folders_and_missing_tables(tmp_path):
    from typer.testing import CliRunner

    from tsft.cli import app

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args))
        return result.exit_code, " ".join(result.output.split())  # rich wraps long lines

    code, said = run("reproduce", "--preset", "huge", "--out", str(tmp_path / "run"))
    assert code == 2 and "unknown preset 'huge'" in said
    code, said = run("reproduce", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "run"))
    assert code == 2 and "--model" in said and "no such folder" in said
    code, said = run("figures", str(tmp_path))
    assert code == 2 and "no tables folder" in said
    if not __import__("torch").cuda.is_available():
        code, said = run("reproduce", "--preset", "smoke", "--device", "cuda", "--out", str(tmp_path / "run"))
        assert code == 2 and "cuda requested but torch has no CUDA here" in said
    assert not (tmp_path / "run").exists()  # nothing was started


def test_a_folder_being_written_is_refused_before_overwrite_deletes_it(tmp_path):
    from typer.testing import CliRunner

    from tests.conftest import another_writer
    from tsft.cli import app

    run = tmp_path / "run"
    run.mkdir()
    (run / "finished.txt").write_text("a finished stage")
    with another_writer(run) as pid:
        result = CliRunner().invoke(app, ["reproduce", "--preset", "smoke", "--out", str(run), "--overwrite"])
        said = " ".join(result.output.split())
        assert result.exit_code == 2 and f"is being written by pid {pid}" in said
        assert (run / "finished.txt").read_text() == "a finished stage"
