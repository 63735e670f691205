"""The perturbation benchmarks in the layouts their authors released: MATH-Perturb (one row holds the original
and its simple and hard variants) and GSM-Symbolic (instances of templates over GSM8K originals)."""

from __future__ import annotations

import json
from pathlib import Path

from tsft.tasks.dataset import load_dataset
from typer.testing import CliRunner

from tsft.cli import app

RELEASED = Path(__file__).parent / "fixtures" / "released"


def _build(source: str, name: str, out: Path):
    result = CliRunner().invoke(app, ["data", "build", "--source", source, "--path", str(RELEASED / name), "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    return load_dataset(out)


def test_math_perturb_rows_give_the_original_and_both_variants_linked_to_it(tmp_path):
    data = _build("pairs", "math_perturb.jsonl", tmp_path / "mp")
    assert [p.id for p in data.test] == ["mp-001", "mp-002"]
    assert [p.answer for p in data.test] == ["5", "4"]
    assert set(data.perturbed) == {"simple", "hard"}
    simple = {row.original_id: row for row in data.perturbed["simple"]}
    assert simple["mp-001"].problem.text == "What is $2+4$?" and simple["mp-001"].problem.answer == "6"
    assert all(row.answer_changed for rows in data.perturbed.values() for row in rows)  # not answer-invariant
    assert simple["mp-001"].problem.meta["original_math_test_idx"] == 17
    assert data.test[1].meta["type"] == "Prealgebra"


def test_gsm_symbolic_keeps_template_instance_original_and_canary(tmp_path):
    data = _build("gsm-symbolic", "GSM_symbolic.jsonl", tmp_path / "gs")
    assert [(p.id, p.answer) for p in data.test] == [("gsm-symbolic/original-12", "7"),
                                                     ("gsm-symbolic/original-30", "800")]
    (kind,) = data.perturbed
    assert kind == "symbolic_gsm_symbolic"
    rows = data.perturbed[kind]
    assert [(r.problem.meta["template"], r.problem.meta["instance"], r.original_id) for r in rows] == [
        ("7", "0", "gsm-symbolic/original-12"), ("7", "1", "gsm-symbolic/original-12"),
        ("8", "0", "gsm-symbolic/original-30")]
    assert [r.problem.answer for r in rows] == ["7", "15", "1000"]  # thousands separator dropped
    assert [r.answer_changed for r in rows] == [False, True, True]
    assert {r.problem.meta["canary"] for r in rows} == {"canary GUID gsm-symbolic-fixture"}
    assert rows[0].problem.steps == ("Ben has 5 + 2 = 7 pears.",)  # calculator annotations removed


def test_a_gsm_symbolic_row_without_its_original_is_named(tmp_path):
    row = json.loads((RELEASED / "GSM_symbolic.jsonl").read_text().splitlines()[0])
    del row["original_question"]
    (tmp_path / "bad.jsonl").write_text(json.dumps(row) + "\n")
    result = CliRunner().invoke(app, ["data", "build", "--source", "gsm-symbolic", "--path",
                                      str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "bad.jsonl:1: field 'original_question': missing" in " ".join(
        result.output.split())
    assert not (tmp_path / "out").exists()
