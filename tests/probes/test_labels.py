"""Labels, group keys, positions and automatic label choice read from real synthetic problems."""

from __future__ import annotations

import pytest
from tsft.probes.capture import dataset_rows
from tsft.probes.labels import LabelError, answer_bucket, answer_edges, groups_for, label_column, problem_fields
from tsft.probes.positions import prompt_positions
from tsft.probes.run import usable_labels


def test_fields_come_from_the_problem(dataset):
    problem = dataset.test[0]
    fields = problem_fields(problem)
    assert fields["theorem"] == problem.theorems[0].theorem_id
    assert fields["template"] == problem.surface["template"] and fields["name"] == problem.surface["name"]
    assert fields["cue"] == "none" and fields["first_word"] == problem.text.split()[0].lower()


def test_answer_buckets_are_quartiles_of_the_originals():
    edges = answer_edges([str(v) for v in range(1, 101)])
    assert edges == pytest.approx([25.75, 50.5, 75.25])
    assert [answer_bucket(a, edges) for a in ("1", "30", "60", "99", "x+1", None)] == ["q0", "q1", "q2", "q3",
                                                                                        "other", None]


def test_group_keys_and_unknown_labels():
    assert groups_for("theorem") == ("template", "numbers") and groups_for("template") == ("numbers",)
    with pytest.raises(LabelError, match="cannot be its own group key"):
        groups_for("template", ("template",))
    with pytest.raises(LabelError, match="unknown group key"):
        groups_for("theorem", ("colour",))


def test_labels_offered_by_the_data_and_why_others_are_skipped(dataset):
    _, rows = dataset_rows(dataset, "test", [])
    chosen, skipped = usable_labels(rows, None, folds=3)
    assert "domain" in chosen and "answer_bucket" in chosen
    assert "one class only" in skipped["cue"] and "subject" in skipped
    assert label_column(rows, "domain").notna().all()


def test_name_and_word_positions_cover_exactly_those_tokens(dataset, tokenizer):
    problem = next(p for p in dataset.test if p.surface.get("name"))
    word = next(w for w in problem.text.split() if w.isalpha() and w != problem.surface["name"])
    ids, spans = prompt_positions(problem, tokenizer, ("last", "problem", "frame", "name", f"words:{word}"))
    assert spans["last"] == [len(ids) - 1]
    assert set(spans["problem"]).isdisjoint(spans["frame"]) and spans["name"]
    assert set(spans["name"]) <= set(spans["problem"])
    assert "".join(tokenizer.decode([ids[p]]) for p in spans["name"]).strip() == problem.surface["name"]
    assert spans[f"words:{word}"] and all(tokenizer.decode([ids[p]]).strip() == word for p in spans[f"words:{word}"])
