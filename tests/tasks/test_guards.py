"""Eval-only marking of benchmark folders and the canary of tsft's own worlds."""

import json

from tsft.tasks.build import build
from tsft.tasks.guards import CANARY_PREFIX, EvalOnlyData, canary, check_trainable, eval_only_header

from tests.conftest import shared_file


def test_benchmark_sources_are_eval_only_and_others_are_not():
    assert eval_only_header("gsm8k", False) == {"eval_only": {"source": "gsm8k", "benchmark": "GSM8K test"}}
    assert eval_only_header("geoqa", has_train=True) == {}          # GeoQA's own train split may be trained on
    assert eval_only_header("geoqa", has_train=False)["eval_only"]["benchmark"] == "GeoQA test"
    assert eval_only_header("jsonl", True) == {}
    assert eval_only_header("jsonl", True, "MATH-500")["eval_only"]["benchmark"] == "MATH-500"


def test_check_trainable_names_the_source():
    check_trainable({}, "data")
    try:
        check_trainable({"eval_only": {"source": "theoremqa", "benchmark": "TheoremQA"}}, "folder")
    except EvalOnlyData as err:
        assert "folder: built from theoremqa (TheoremQA)" in str(err)
    else:
        raise AssertionError("an eval-only folder was accepted")
    check_trainable({"eval_only": {"source": "theoremqa", "benchmark": "TheoremQA"}}, "folder", allow=True)


def test_synthetic_manifest_carries_a_canary_of_its_test_problems(data_dir):
    manifest = json.loads((data_dir / "manifest.json").read_text())
    texts = [json.loads(line)["text"] for line in (data_dir / "test.jsonl").read_text().splitlines()]
    assert manifest["canary"] == canary(texts) and manifest["canary"].startswith(CANARY_PREFIX)
    assert canary(texts[1:]) != manifest["canary"] and "eval_only" not in manifest


def test_a_real_benchmark_folder_is_marked(tmp_path):
    lines = shared_file("gsm8k/test.jsonl").read_text().splitlines()[:12]
    (tmp_path / "test.jsonl").write_text("\n".join(lines) + "\n")
    manifest = build("gsm8k", tmp_path / "gsm", path=tmp_path / "test.jsonl")
    assert manifest["eval_only"] == {"source": "gsm8k", "benchmark": "GSM8K test"}
