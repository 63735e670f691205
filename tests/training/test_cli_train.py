"""`tsft train` / `tsft eval` refuse bad input with a message naming what is wrong, writing nothing."""

from __future__ import annotations

import json

import pytest
from tsft.tasks.build import build
from typer.testing import CliRunner

from tsft.cli import app

runner = CliRunner()
FAST = ["--set", "steps=2", "--set", "batch_size=4", "--set", "micro_batch_size=4", "--set", "eval_every=0",
        "--set", "eval_size=2", "--set", "save_every=1", "--threads", "1"]


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args], env={"TQDM_DISABLE": "1", "COLUMNS": "200"})
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def real_data(tmp_path_factory):
    """A JSONL source: 6 annotated-free training rows with steps, 3 test rows."""
    folder = tmp_path_factory.mktemp("real")
    rows = [{"question": f"What is {i} + {i}?", "final": 2 * i, "split": "train" if i < 6 else "test",
             "steps": [f"{i} + {i} = {2 * i}"]} for i in range(9)]
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build("jsonl", folder / "data", path=folder / "rows.jsonl", field_map="text=question,answer=final")
    (folder / "test_rows.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "split"}) + "\n"
                                                    for r in rows))
    build("jsonl", folder / "test_only", path=folder / "test_rows.jsonl", field_map="text=question,answer=final")
    return folder


def test_missing_or_non_hf_model_folder(data_dir, tmp_path):
    code, out = _invoke("train", "sft", "--base", tmp_path / "nope", "--data", data_dir, "--out", tmp_path / "r", *FAST)
    assert code == 2 and "nope: not a folder" in out
    (tmp_path / "plain").mkdir()
    code, out = _invoke("eval", "--model", tmp_path / "plain", "--data", data_dir, "--out", tmp_path / "e")
    assert code == 2 and "plain: no config.json" in out
    assert not (tmp_path / "r").exists() and not (tmp_path / "e").exists()


def test_data_without_train_split_or_theorems(base_dir, real_data, tmp_path):
    code, out = _invoke("train", "sft", "--base", base_dir, "--data", real_data / "test_only", "--out",
                        tmp_path / "r", *FAST)
    assert code == 2 and "no train split" in out
    code, out = _invoke("train", "sft", "--base", base_dir, "--data", real_data / "data", "--out", tmp_path / "r",
                        "--target", "theorem", *FAST)
    assert code == 2 and "6 of 6 problems have no theorem annotations" in out and "train.jsonl" in out
    assert not (tmp_path / "r").exists()
    code, out = _invoke("train", "sft", "--base", base_dir, "--data", real_data / "data", "--out", tmp_path / "r",
                        "--target", "solution", *FAST)
    assert code == 0, out  # steps are enough for the solution target
    code, out = _invoke("train", "sft", "--base", base_dir, "--data", tmp_path / "none", "--out", tmp_path / "q",
                        *FAST)
    assert code == 2 and "no manifest.json" in out


def test_conflicting_resume_and_existing_runs_keep_their_files(base_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    assert _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", out, *FAST)[0] == 0
    before = (out / "model.safetensors").read_bytes()
    code, text = _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", out, *FAST)
    assert code == 2 and "pass --resume" in text
    code, text = _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", out, "--resume",
                         "--target", "answer", *FAST)
    assert code == 2 and "config.target: saved 'theorem', now 'answer'" in text
    code, text = _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", out, *FAST,
                         "--set", "lr=fast")
    assert code == 2 and "setting 'lr'" in text
    assert (out / "model.safetensors").read_bytes() == before


def test_matrix_skips_complete_runs(base_dir, data_dir, tmp_path):
    args = ["train", "matrix", "--base", base_dir, "--data", data_dir, "--out", tmp_path, "--targets",
            "answer,solution", "--params", "mlp", "--seeds", "0", *FAST]
    code, out = _invoke(*args)
    assert code == 0, out
    cards = {p.name: json.loads((p / "run_card.json").read_text()) for p in tmp_path.iterdir()}
    assert set(cards) == {"answer-mlp-s0", "solution-mlp-s0"}
    assert cards["answer-mlp-s0"]["config"]["target"] == "answer"
    assert cards["answer-mlp-s0"]["metrics"]["target_tokens_seen"] < \
        cards["solution-mlp-s0"]["metrics"]["target_tokens_seen"]
    stamp = (tmp_path / "answer-mlp-s0" / "model.safetensors").stat().st_mtime_ns
    code, out = _invoke(*args)
    assert code == 0 and (tmp_path / "answer-mlp-s0" / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA machine can use --device cuda")
def test_eval_on_a_missing_cuda_is_one_line(base_dir, data_dir, tmp_path):
    code, output = _invoke("eval", "--model", base_dir, "--data", data_dir, "--out", tmp_path / "eval",
                           "--device", "cuda")
    assert code == 2 and "cuda requested but torch has no CUDA here" in output and "Traceback" not in output
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("written", ["0.8,0.9", "[0.8,0.9]", "(0.8, 0.9)"])
def test_betas_are_read_in_the_forms_people_write(written):
    from tsft.training.config import SFTConfig, parse_overrides, resolve_config

    assert resolve_config(SFTConfig, None, parse_overrides([f"betas={written}"])).betas == (0.8, 0.9)


@pytest.mark.parametrize("written", ["0.9", "[0.9]", "0.9,0.99,0.999", "a,b"])
def test_a_wrong_betas_is_one_line_naming_the_form(base_dir, data_dir, tmp_path, written):
    code, output = _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", tmp_path / "run",
                           "--set", f"betas={written}", *FAST)
    assert code != 0 and "setting 'betas': expected 2 numbers written x,x" in output and "Traceback" not in output
    assert not (tmp_path / "run").exists()


def test_a_resume_says_where_it_starts_or_that_there_was_nothing_to_resume(base_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    code, text = _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", out, "--resume", *FAST)
    assert code == 0 and f"{out}: nothing to resume (no checkpoint saved yet); starting at step 0" in text
    final = json.loads((out / "run_card.json").read_text())
    cut = tmp_path / "cut"
    (cut / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "step-000001").rename(cut / "checkpoints" / "step-000001")
    code, text = _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", cut, "--resume", *FAST)
    assert code == 0 and f"{cut}: resuming from step 1 (step-000001)" in text
    assert json.loads((cut / "run_card.json").read_text())["step"] == final["step"] == 2
    code, text = _invoke("train", "sft", "--base", base_dir, "--data", data_dir, "--out", cut, "--resume", *FAST)
    assert code == 0 and f"{cut}: already complete at step 2; nothing to do" in text


def test_a_redirected_log_has_no_loading_bars(base_dir, data_dir, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    result = subprocess.run([sys.executable, "-m", "tsft", "eval", "--model", str(base_dir), "--data", str(data_dir),
                             "--out", str(tmp_path / "eval"), "--limit", "1", "--splits", "original"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Loading weights" not in result.stderr + result.stdout
    assert (tmp_path / "eval" / "summary.csv").is_file()


def test_a_broken_config_or_missing_tokenizer_is_named_as_such(base_dir, data_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(base_dir, broken)
    (broken / "config.json").write_text('{"model_type": "llama",\n "hidden_size": 64,,}')
    code, out = _invoke("eval", "--model", broken, "--data", data_dir, "--out", tmp_path / "e")
    assert code == 2 and f"{broken}/config.json:2: invalid JSON (Expecting property name" in out
    assert "tokenizer" not in out
    bare = tmp_path / "bare"
    shutil.copytree(base_dir, bare, ignore=shutil.ignore_patterns("tokenizer*", "special_tokens_map.json"))
    code, out = _invoke("eval", "--model", bare, "--data", data_dir, "--out", tmp_path / "e")
    assert code == 2 and f"{bare}: no tokenizer files (one of tokenizer.json" in out
    assert "sentencepiece" not in out and "Traceback" not in out and not (tmp_path / "e").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA machine can use --device cuda")
@pytest.mark.parametrize("command", [["train", "sft"], ["train", "matrix"]])
def test_train_on_a_missing_cuda_is_one_line(base_dir, data_dir, tmp_path, command):
    code, output = _invoke(*command, "--base", base_dir, "--data", data_dir, "--out", tmp_path / "run", "--device",
                           "cuda", *FAST)
    assert code == 2 and "cuda requested but torch has no CUDA here" in output and "Traceback" not in output
    assert not (tmp_path / "run").exists()


def test_train_base_on_the_cpu_says_so_in_its_run_card(tmp_path):
    code, output = _invoke("train", "base", "--out", tmp_path / "base", "--preset", "tiny", "--steps", "1",
                           "--set", "eval_every=0", "--set", "batch_size=4", "--set", "micro_batch_size=4",
                           "--set", "n_facts=40", "--set", "n_problems=5", "--device", "cpu", "--threads", "1")
    assert code == 0, output
    card = json.loads((tmp_path / "base" / "run_card.json").read_text())
    assert (card["status"], card["device"]) == ("complete", "cpu")
    code, output = _invoke("train", "base", "--out", tmp_path / "b2", "--device", "tpu")
    assert code == 2 and "unknown device 'tpu'; use auto, cpu, cuda" in output and not (tmp_path / "b2").exists()


def test_eval_only_folder_is_refused_naming_its_source_unless_allowed(base_dir, real_data, tmp_path):
    """A JSONL of a benchmark's problems marked --eval-only (its train rows included) is refused by `tsft train`,
    naming the benchmark, and nothing is written; allow_eval_data=true trains, and the run card says so."""
    code, out = _invoke("data", "build", "--source", "jsonl", "--path", real_data / "rows.jsonl", "--field-map",
                        "text=question,answer=final", "--eval-only", "MATH-500", "--out", tmp_path / "bench")
    assert code == 0, out
    manifest = json.loads((tmp_path / "bench" / "manifest.json").read_text())
    assert manifest["eval_only"] == {"source": "jsonl", "benchmark": "MATH-500"} and "canary" not in manifest
    args = ("train", "sft", "--base", base_dir, "--data", tmp_path / "bench", "--target", "solution", *FAST)
    code, out = _invoke(*args, "--out", tmp_path / "r")
    assert code == 2 and "jsonl (MATH-500), an evaluation-only source" in out and "allow_eval_data=true" in out
    assert not (tmp_path / "r").exists()
    code, out = _invoke(*args, "--out", tmp_path / "r", "--set", "allow_eval_data=true")
    assert code == 0, out
    assert json.loads((tmp_path / "r" / "run_card.json").read_text())["config"]["allow_eval_data"] is True
    assert "eval_only" not in json.loads((real_data / "data" / "manifest.json").read_text())
