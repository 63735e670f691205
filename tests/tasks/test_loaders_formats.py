"""Loaders on small files written here in each format, and their errors on bad rows."""

from __future__ import annotations

import json

import pytest
from tsft.tasks.io import DataError
from tsft.tasks.loaders import load
from tsft.tasks.loaders.math_dataset import parse_level


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


ORIGINAL_MATH = {
    "problem": "What is $\\frac{1}{2} + \\frac{1}{3}$?",
    "level": "Level 2",
    "type": "Prealgebra",
    "solution": "We have $\\frac{1}{2} + \\frac{1}{3} = \\frac{3}{6} + \\frac{2}{6}$.\n\nSo the sum is "
                "$\\boxed{\\frac{5}{6}}$.",
}


def test_original_math_layout_from_a_folder_tree(tmp_path):
    (tmp_path / "test" / "prealgebra").mkdir(parents=True)
    (tmp_path / "test" / "prealgebra" / "7.json").write_text(json.dumps(ORIGINAL_MATH))
    nested = dict(ORIGINAL_MATH, solution="Thus $\\boxed{\\left\\{ \\frac{1}{2}, \\sqrt{3} \\right\\}}$.",
                  level="Level ?")
    (tmp_path / "test" / "prealgebra" / "8.json").write_text(json.dumps(nested))
    result = load("math", tmp_path)
    first, second = result.problems
    assert first.id == "test/prealgebra/7" and first.answer == "\\frac{5}{6}"
    assert first.meta == {"split": "test", "subject": "Prealgebra", "level": 2, "layout": "original"}
    assert len(first.steps) == 2
    assert second.answer == "\\left\\{ \\frac{1}{2}, \\sqrt{3} \\right\\}" and second.meta["level"] is None


def test_math_jsonl_mixes_layouts_and_reports_a_missing_boxed(tmp_path):
    m500 = {"problem": "1+1?", "solution": "It is $\\boxed{2}$.", "answer": "2", "subject": "Algebra",
            "level": 1, "unique_id": "test/algebra/1.json"}
    bad = dict(ORIGINAL_MATH, solution="no box here")
    path = write_jsonl(tmp_path / "math.jsonl", [m500, ORIGINAL_MATH, bad])
    with pytest.raises(DataError) as err:
        load("math", path)
    assert f"{path}:3" in str(err.value) and "field 'solution'" in str(err.value)
    result = load("math", path, skip_invalid=True)
    assert [p.id for p in result.problems] == ["test/algebra/1.json", "math/line-2"]
    assert result.skipped == [{"file": str(path), "line": 3, "field": "solution",
                               "reason": "no \\boxed{...} answer in the solution (original MATH layout)"}]


def test_parse_level():
    assert parse_level(3) == 3 and parse_level("Level 5") == 5 and parse_level("Level ?") is None
    with pytest.raises(ValueError, match="level"):
        parse_level("hard")


def test_gsm8k_errors_name_line_and_field(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "q?", "answer": "2+2=<<2+2=4>>4\n#### 4"},
                                              "{not json", {"question": "q", "answer": "no marker"}])
    with pytest.raises(DataError, match=r"g\.jsonl:2: invalid JSON"):
        load("gsm8k", path)
    write_jsonl(path, [{"question": "q?", "answer": "2+2=<<2+2=4>>4\n#### 1,004"}, {"question": "q"}])
    with pytest.raises(DataError, match=r"g\.jsonl:2: field 'answer': missing"):
        load("gsm8k", path)
    result = load("gsm8k", path, skip_invalid=True)
    assert result.problems[0].answer == "1004" and result.problems[0].steps == ("2+2=4",)
    assert result.skipped[0]["line"] == 2


def test_gsm_plus_style_pairs(tmp_path):
    seed = {"seed_question": "Ann has 3 apples and buys 2. How many?", "seed_answer": "5"}
    rows = [
        {**seed, "question": "Ann has 3 apples and buys 4. How many?", "answer": "7",
         "perturbation_type": "numerical substitution"},
        {**seed, "question": "Ann, who is 9, has 3 apples and buys 2. How many?", "answer": "5",
         "perturbation_type": "distractor insertion"},
        {"seed_question": "Bo has 1 pen. He finds 1. How many?", "seed_answer": "2", "question": "Bo has one pen. "
         "He finds one. How many?", "answer": "2.0", "perturbation_type": "integer-decimal-fraction conversion"},
    ]
    result = load("pairs", write_jsonl(tmp_path / "plus.jsonl", rows))
    assert len(result.problems) == 2
    kinds = {p.kind: p for p in result.perturbations}
    assert set(kinds) == {"numerical_substitution", "distractor_insertion", "integer_decimal_fraction_conversion"}
    assert kinds["numerical_substitution"].answer_changed
    assert not kinds["distractor_insertion"].answer_changed
    assert not kinds["integer_decimal_fraction_conversion"].answer_changed  # 2.0 grades equal to 2
    assert kinds["numerical_substitution"].original_id == kinds["distractor_insertion"].original_id


def test_math_perturb_style_pairs_and_conflicts(tmp_path):
    rows = [{"original_id": "test/algebra/12.json", "original_problem": "Solve $x+1=2$.", "original_answer": "1",
             "problem": "Solve $x+1=3$.", "answer": "2", "perturbation_type": "simple"},
            {"original_id": "test/algebra/12.json", "original_problem": "Solve $x+1=2$.", "original_answer": "1",
             "problem": "Solve $x^2+1=2$ for positive $x$.", "answer": "1", "perturbation_type": "hard"}]
    result = load("pairs", write_jsonl(tmp_path / "mp.jsonl", rows))
    assert [p.id for p in result.problems] == ["test/algebra/12.json"]
    assert [(p.kind, p.answer_changed) for p in result.perturbations] == [("simple", True), ("hard", False)]
    rows[1]["original_problem"] = "Something else."
    with pytest.raises(DataError, match=r"mp\.jsonl:2: field 'original_id'"):
        load("pairs", write_jsonl(tmp_path / "mp.jsonl", rows))
    with pytest.raises(DataError, match="seed_question"):
        load("pairs", write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "answer": "1",
                                                            "perturbation_type": "x"}]))


def test_generic_jsonl_with_a_field_map_and_annotations(tmp_path):
    annotation = {"theorem_id": "pythagorean", "name": "Pythagorean theorem", "statement": "a^2+b^2=c^2",
                  "premises": [{"text": "right angle at C", "holds": True}],
                  "bindings": [{"slot": "a", "object": "AC", "value": 3}], "exec_steps": ["3 * 3 = 9"],
                  "conclusion": "AB = 5"}
    rows = [{"uid": "q1", "question": "Legs 3 and 4: hypotenuse?", "final": 5, "why": [annotation],
             "difficulty": "easy"},
            {"uid": "q2", "question": "2+2?", "final": "4", "rule": "addition"}]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    result = load("jsonl", path, field_map="id=uid,text=question,answer=final,theorems=why,theorem=rule")
    first, second = result.problems
    assert first.id == "q1" and first.answer == "5" and first.meta == {"split": "test", "difficulty": "easy"}
    assert first.theorems[0].bindings[0].value == 3 and first.theorems[0].premises[0].holds
    assert second.theorems[0].name == "addition"
    with pytest.raises(ValueError, match="unknown field"):
        load("jsonl", path, field_map="question=text")
    write_jsonl(path, [{"uid": "q1", "question": "x", "final": 1, "why": [{"theorem_id": "t"}]}])
    with pytest.raises(DataError, match=r"mine\.jsonl:1: field 'why\[0\]\.name': missing"):
        load("jsonl", path, field_map="id=uid,text=question,answer=final,theorems=why")


def test_theoremqa_errors_name_the_item(tmp_path):
    items = [{"Question": "Is 7 prime?", "Answer": True, "Answer_type": "bool", "Picture": None,
              "theorem": "prime", "field": "Math", "subfield": "NT", "id": "a", "explanation": ""},
             {"Question": "Pick", "Answer": 3, "Answer_type": "option", "Picture": None, "theorem": "x",
              "id": "b"}]
    path = tmp_path / "tq.json"
    path.write_text(json.dumps(items))
    with pytest.raises(DataError, match=r"tq\.json \(item 2\): field 'Answer'"):
        load("theoremqa", path)
    result = load("theoremqa", path, skip_invalid=True)
    assert result.problems[0].answer == "True" and result.problems[0].theorems[0].statement == ""
    assert result.skipped[0]["item"] == 2


def test_missing_files_and_unknown_sources(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load("gsm8k", tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="unknown source"):
        load("aime", tmp_path)
    with pytest.raises(ValueError, match="--path is required"):
        load("math", None)
