"""Surface perturbations: answer behaviour (property-tested over many seeds) and what each changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tsft.tasks.perturbing import NotApplicable
from tsft.tasks.world.catalogue import THEOREMS, get_theorem
from tsft.tasks.world.generate import CUE_NAME, WorldConfig, generate_split
from tsft.tasks.world.perturb import ANSWER_INVARIANT, KINDS, perturb, perturb_all
from tsft.tasks.world.surface import CUE_NAMES

ONE_OF_EACH = WorldConfig(seed=0, n_train=0, n_test=len(THEOREMS))


def _original(seed: int, theorem_index: int):
    config = WorldConfig(seed=seed, n_train=0, n_test=1, theorems=(THEOREMS[theorem_index].id,))
    return generate_split(config, "test", 1)[0]


def test_at_least_seven_kinds_and_which_keep_the_answer():
    assert len(KINDS) >= 8
    assert {"entity_rename", "letter_rename", "reorder_givens", "distractor", "paraphrase", "heldout_template",
            "out_of_range", "format_words"} <= set(KINDS)
    assert "out_of_range" not in ANSWER_INVARIANT


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), theorem_index=st.integers(0, len(THEOREMS) - 1),
       kind=st.sampled_from(sorted(ANSWER_INVARIANT)))
def test_answer_invariant_kinds_keep_the_answer(seed, theorem_index, kind):
    original = _original(seed, theorem_index)
    try:
        result = perturb(original, kind, seed)
    except NotApplicable:
        return
    assert result.problem.answer == original.answer and not result.answer_changed
    assert result.problem.text != original.text
    assert result.original_id == original.id and result.kind == kind
    assert result.problem.theorems[0].theorem_id == original.theorems[0].theorem_id


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10**6), theorem_index=st.integers(0, len(THEOREMS) - 1))
def test_out_of_range_recomputes_the_answer_by_the_rule(seed, theorem_index):
    original = _original(seed, theorem_index)
    result = perturb(original, "out_of_range", seed)
    theorem = get_theorem(original.theorems[0].theorem_id)
    values = result.problem.surface["values"]
    assert result.problem.answer == str(theorem.solve(values)[0])
    assert result.answer_changed == (result.problem.answer != original.answer)
    assert result.problem.surface["number_range"] == "heldout"


def test_each_kind_changes_what_it_says():
    originals = generate_split(ONE_OF_EACH, "test", len(THEOREMS))
    for original in originals:
        s = original.surface
        for kind in KINDS:
            try:
                new = perturb(original, kind).problem.surface
            except NotApplicable:
                continue
            changed = {k for k in s if s[k] != new[k]}
            expected = {
                "entity_rename": {"name"}, "letter_rename": {"letters"}, "reorder_givens": {"order"},
                "entity_rename_novel": {"name"}, "letter_rename_novel": {"letters"},
                "distractor": {"distractor"}, "paraphrase": {"paraphrase"},
                "heldout_template": {"template", "template_role"} | ({"order"} if s["order"] != new["order"]
                                                                     else set()),
                "format_words": {"number_format"}, "out_of_range": {"values", "number_range"},
                "cue_conflict": {"name", "cue"},
            }[kind]
            assert changed == expected, (kind, changed)


def test_reorder_keeps_the_givens_and_moves_them():
    original = next(p for p in generate_split(ONE_OF_EACH, "test", len(THEOREMS)) if len(p.surface["order"]) >= 2)
    result = perturb(original, "reorder_givens").problem
    assert sorted(result.surface["order"]) == sorted(original.surface["order"])
    assert result.surface["order"] != original.surface["order"]
    assert sorted(result.text.replace(".", " ").split()) == sorted(original.text.replace(".", " ").split())


def test_paraphrase_changes_words_of_every_training_template():
    for theorem in THEOREMS:
        for template in theorem.family.templates_for("train"):
            config = WorldConfig(seed=1, n_train=0, n_test=1, theorems=(theorem.id,))
            original = generate_split(config, "test", 1)[0]
            surface = dict(original.surface, template=template.id, order=list(range(len(template.givens))))
            from tsft.tasks.world.generate import make_problem

            base = make_problem(theorem, surface, "x", "test")
            para = perturb(base, "paraphrase").problem
            assert set(para.text.split()) != set(base.text.split()), (template.id, base.text)


def test_cue_conflict_plants_the_siblings_cue():
    originals = generate_split(ONE_OF_EACH, "test", len(THEOREMS))
    results, skipped = perturb_all(originals, ["cue_conflict"])
    assert results["cue_conflict"] and skipped["cue_conflict"]
    for result in results["cue_conflict"]:
        own = original_theorem = result.problem.theorems[0].theorem_id
        assert result.problem.surface["name"] in CUE_NAMES
        assert result.problem.surface["name"] != CUE_NAME[own], original_theorem


def test_not_applicable_is_reported_with_its_reason():
    fermat = next(p for p in generate_split(ONE_OF_EACH, "test", len(THEOREMS))
                  if p.theorems[0].theorem_id == "fermat_little")
    with pytest.raises(NotApplicable, match="no letters"):
        perturb(fermat, "letter_rename")
    with pytest.raises(KeyError, match="unknown perturbation"):
        perturb(fermat, "nonsense")


def test_perturbing_never_edits_the_original():
    originals = generate_split(ONE_OF_EACH, "test", len(THEOREMS))
    before = [p.to_dict() for p in originals]
    perturb_all(originals, list(KINDS))
    assert [p.to_dict() for p in originals] == before
