"""Where the output cannot be written, every command says so in one line before any work (tasks.io.check_writable),
and leaves nothing behind."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tsft.cli import app


def refused(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output, said
    return said


@pytest.fixture
def under_a_file(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    return tmp_path / "a-file" / "out"


def test_eval_patch_probe_and_build_refuse_an_output_under_a_file(under_a_file, data_dir, tmp_path):
    model = tmp_path / "no-model-needed"  # the output is checked before the model is opened
    for command in (["eval", "--model", str(model), "--data", str(data_dir)],
                    ["patch", "sweep", "--model", str(model), "--data", str(data_dir)],
                    ["data", "build", "--source", "synthetic"]):
        said = refused(*command, "--out", str(under_a_file))
        assert f"{under_a_file}: {under_a_file.parent} is a file, not a folder" in said, command
    assert under_a_file.parent.read_text() == "not a folder"


def test_a_virtual_file_system_is_refused_before_any_work(data_dir):
    said = refused("data", "build", "--source", "synthetic", "--out", "/proc/tsft-out")
    assert "/proc/tsft-out: nothing can be written under /proc" in said


def test_training_refuses_before_the_base_is_loaded(under_a_file, data_dir, tmp_path):
    said = refused("train", "sft", "--base", str(tmp_path / "no-base-needed"), "--data", str(data_dir),
                   "--out", str(under_a_file), "--target", "answer")
    assert "is a file, not a folder" in said


def test_settings_that_would_not_be_honoured_are_refused(data_dir, tmp_path):
    """Each of these used to run and record what did not happen (or drop the setting silently)."""
    said = refused("train", "matrix", "--base", str(tmp_path / "b"), "--data", str(data_dir), "--out",
                   str(tmp_path / "m"), "--params", "full,mlp", "--lr-for", "mpl=3e-3")
    assert "--lr-for mpl=3e-3: 'mpl' is not one of the selections trained (full, mlp)" in said
    said = refused("train", "matrix", "--base", str(tmp_path / "b"), "--data", str(data_dir), "--out",
                   str(tmp_path / "m"), "--lr-for", "mlp=fast")
    assert "the learning rate must be a number" in said
    said = refused("patch", "sweep", "--model", str(tmp_path / "m"), "--data", str(data_dir), "--out",
                   str(tmp_path / "p"), "--engine", "tl", "--method", "atp_star")
    assert "--engine tl runs exact patching only; --method atp_star runs on hooks" in said
    assert not (tmp_path / "m").exists() and not (tmp_path / "p").exists()


def test_fsdp_in_one_process_is_refused_not_recorded(tmp_path, data_dir, tokenizer):
    from tests.training.conftest import tiny_model

    base = tmp_path / "base"
    tiny_model(tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    said = refused("train", "sft", "--base", str(base), "--data", str(data_dir), "--out", str(tmp_path / "run"),
                   "--target", "answer", "--set", "fsdp=true", "--set", "steps=2", "--threads", "1")
    assert "fsdp=true shards a model over processes, and this is one process" in said
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


@pytest.mark.parametrize("command", [
    ["patch", "sweep", "--limit", "0"], ["patch", "sweep", "--limit", "-5"], ["patch", "sweep", "--memory-mb", "0"],
    ["patch", "trace", "--samples", "0"], ["patch", "transplant", "--width", "0"],
    ["eval", "--limit", "0"], ["eval", "--batch-size", "0"], ["eval", "--max-new-tokens", "0"],
    ["eval", "--shots", "-1"], ["eval", "--threads", "0"], ["probe", "run", "--folds", "1"],
    ["reproduce", "--jobs", "0"],
])
def test_numbers_out_of_range_are_refused_naming_the_option(command, tmp_path):
    paths = {"patch": ["--model", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o")],
             "eval": ["--model", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o")],
             "probe": ["--model", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o")],
             "reproduce": ["--out", str(tmp_path / "o")]}[command[0]]
    if command[:2] == ["patch", "transplant"]:
        paths = ["--a", str(tmp_path), "--b", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*command, *paths])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and f"Invalid value for '{command[-2]}'" in said, said
    assert not (tmp_path / "o").exists()


def test_a_transplant_window_wider_than_the_model_is_refused(tmp_path, data_dir, tokenizer):
    from tests.training.conftest import tiny_model

    model = tiny_model(tokenizer)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    depth = model.config.num_hidden_layers
    said = refused("patch", "transplant", "--a", str(tmp_path / "m"), "--b", str(tmp_path / "m"), "--data",
                   str(data_dir), "--out", str(tmp_path / "o"), "--width", str(depth + 1))
    assert f"--width {depth + 1}: a window is 1 to {depth} layers" in said and not (tmp_path / "o").exists()


def test_a_prompt_beyond_the_models_context_is_refused_before_generation(tmp_path, tokenizer):
    import json

    from tsft.tasks.build import build_real

    from tests.training.conftest import tiny_model

    model = tiny_model(tokenizer)  # 512 positions
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    rows = [{"question": "What is 2 plus 3 ?", "answer": "5"}, {"question": "two " * 600 + "?", "answer": "1"}]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_real("jsonl", tmp_path / "rows.jsonl", tmp_path / "data", field_map="text=question,answer=answer")
    said = refused("eval", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "data"), "--out",
                   str(tmp_path / "o"), "--max-new-tokens", "8", "--threads", "1")
    assert "its prompt is" in said and "beyond the model's 512 positions" in said and not (tmp_path / "o").exists()


def test_an_existing_file_to_be_replaced_is_writable_where_its_folder_is(tmp_path):
    from tsft.tasks.io import NotWritable, check_writable

    (tmp_path / "probes.parquet").write_text("old table")
    check_writable(tmp_path / "probes.parquet")  # replacing a file: its folder takes the new one
    with pytest.raises(NotWritable, match="is a file, not a folder"):
        check_writable(tmp_path / "probes.parquet" / "inside")
