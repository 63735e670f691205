"""The generator: determinism, balance, disjoint splits, surface records, and the cue knob."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from tsft.tasks.world.catalogue import THEOREMS, get_theorem, siblings
from tsft.tasks.world.generate import CUE_NAME, WorldConfig, generate_splits
from tsft.tasks.world.surface import CUE_NAMES, NAMES

SURFACE_KEYS = {"template", "template_role", "name", "cue", "letters", "values", "number_range", "unit",
                "order", "distractor", "number_format", "paraphrase"}


def _train_test(config: WorldConfig):
    splits = generate_splits(config)
    return splits["train"], splits["test"]


@pytest.fixture(scope="module")
def world():
    return _train_test(WorldConfig(seed=3, n_train=400, n_test=200))


def test_same_seed_same_problems_other_seed_other_problems():
    config = WorldConfig(seed=11, n_train=60, n_test=40)
    first, again = _train_test(config), _train_test(config)
    assert [p.to_dict() for p in first[0] + first[1]] == [p.to_dict() for p in again[0] + again[1]]
    other = _train_test(WorldConfig(seed=12, n_train=60, n_test=40))
    assert sum(a.text != b.text for a, b in zip(first[0], other[0], strict=True)) > 50


def test_balanced_over_theorems_and_disjoint_splits(world):
    train, test = world
    assert Counter(p.theorems[0].theorem_id for p in train) == {t.id: 400 // len(THEOREMS) for t in THEOREMS}
    assert len({p.text for p in train}) == len(train)
    assert not {p.text for p in train} & {p.text for p in test}
    assert len({p.id for p in train + test}) == len(train) + len(test)


def test_every_problem_records_its_surface(world):
    for problem in world[0] + world[1]:
        surface = problem.surface
        assert set(surface) == SURFACE_KEYS
        assert surface["template_role"] == "train" and surface["number_range"] == "train"
        assert surface["name"] in problem.text
        for letter in surface["letters"].values():
            assert letter in problem.text, (letter, problem.text)
        for value in surface["values"].values():
            assert str(value) in problem.text
        assert problem.steps == problem.theorems[0].exec_steps


def test_heldout_templates_and_numbers_never_in_training(world):
    train, _ = world
    heldout_templates = {t.id for th in THEOREMS for t in th.family.templates_for("heldout")}
    assert heldout_templates and not heldout_templates & {p.surface["template"] for p in train}
    for theorem in THEOREMS:  # the two number ranges barely overlap for every theorem
        import random

        rng = random.Random(theorem.id)
        train_values = {tuple(sorted(theorem.sample(rng, "train").items())) for _ in range(200)}
        heldout_values = {tuple(sorted(theorem.sample(rng, "heldout").items())) for _ in range(200)}
        assert len(train_values & heldout_values) == 0, theorem.id


def test_every_template_renders_a_question(world):
    seen = Counter(p.surface["template"] for p in world[0])
    train_templates = {t.id for th in THEOREMS for t in th.family.templates_for("train")}
    assert set(seen) == train_templates
    for problem in world[0][:40]:
        assert problem.text[0].isupper() and "{" not in problem.text and "  " not in problem.text


@pytest.mark.parametrize("strength", [0.0, 0.5, 1.0])
def test_cue_knob_plants_a_competing_cue_in_train_only(strength):
    train, test = _train_test(WorldConfig(seed=5, n_train=800, n_test=200, cue_strength=strength))
    cued_theorems = [p for p in train if siblings(p.theorems[0].theorem_id)]
    planted = [p for p in cued_theorems if p.surface["cue"]]
    rate = len(planted) / len(cued_theorems)
    assert abs(rate - strength) < 0.08
    for problem in planted:  # the cue names the rule; the template still does not
        assert problem.surface["name"] == CUE_NAME[problem.theorems[0].theorem_id]
    uncued = [p for p in train if not siblings(p.theorems[0].theorem_id)]
    assert all(p.surface["cue"] is None and p.surface["name"] in NAMES for p in uncued)
    assert all(p.surface["cue"] is None and p.surface["name"] not in CUE_NAMES for p in test)


def test_cue_competes_with_wording():
    """Sibling problems share every template: only the ask word (or, at strength 1, the cue) tells them apart."""
    train, _ = _train_test(WorldConfig(seed=2, n_train=400, n_test=0, cue_strength=1.0))
    for problem in train:
        theorem = get_theorem(problem.theorems[0].theorem_id)
        for sibling in siblings(theorem.id):
            assert sibling.family.templates == theorem.family.templates
    assert len(set(CUE_NAME.values())) == len(CUE_NAME)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="cue_strength"):
        WorldConfig(cue_strength=1.5)
    with pytest.raises(KeyError, match="unknown theorem"):
        WorldConfig(theorems=("no_such_theorem",))


def test_tokenizer_corpus_covers_every_generated_word(world):
    from tsft.tasks.world.catalogue import tokenizer_corpus
    from tsft.tasks.world.perturb import KINDS, perturb_all

    words = set(tokenizer_corpus().split("\n"))
    perturbed, _ = perturb_all(world[1][:60], list(KINDS))
    texts = [p.text for p in world[0] + world[1]] + [r.problem.text for rows in perturbed.values() for r in rows]
    for text in texts:
        found = set(re.findall(r"[A-Za-z']+", text))
        found = {w for w in found if not (len(w) > 1 and w.isupper())} | {c for w in found if w.isupper()
                                                                         for c in w}  # "PQR" = P, Q, R
        assert not found - words, (found - words, text)


def test_a_validation_split_is_new_texts_of_the_training_templates_and_changes_nothing_else():
    config = WorldConfig(seed=4, n_train=300, n_test=100)
    plain, with_val = generate_splits(config), generate_splits(WorldConfig(seed=4, n_train=300, n_test=100, n_val=120))
    assert "val" not in plain and len(with_val["val"]) == 120
    for split in ("train", "test"):
        assert [p.to_dict() for p in plain[split]] == [p.to_dict() for p in with_val[split]]
    seen = {p.text for split in ("train", "test") for p in with_val[split]}
    assert not seen & {p.text for p in with_val["val"]}
    assert all(p.surface["template_role"] == "train" and p.surface["number_range"] == "train"
               and p.meta["split"] == "val" for p in with_val["val"])


def test_novel_renames_use_names_and_letters_training_never_does(world):
    from tsft.tasks.world.surface import NOVEL_LETTERS, NOVEL_NAMES

    train, test = world
    trained_names = {p.surface["name"] for p in train}
    trained_letters = {x for p in train for x in p.surface["letters"].values()}
    assert not set(NOVEL_NAMES) & (set(NAMES) | set(CUE_NAMES))
    from tsft.tasks.world.perturb import perturb_all

    perturbed, _ = perturb_all(test[:80], ["entity_rename_novel", "letter_rename_novel", "entity_rename"])
    assert all(r.problem.surface["name"] in NOVEL_NAMES and r.problem.surface["name"] not in trained_names
               for r in perturbed["entity_rename_novel"])
    assert all(r.problem.surface["name"] in trained_names for r in perturbed["entity_rename"])  # the control
    novel = perturbed["letter_rename_novel"]
    assert novel and all(set(r.problem.surface["letters"].values()) <= set(NOVEL_LETTERS["vertex"] + NOVEL_LETTERS[
        "variable"]) and not set(r.problem.surface["letters"].values()) & trained_letters for r in novel)
    assert all(r.problem.answer == next(p for p in test if p.id == r.original_id).answer for r in novel)


def test_every_family_has_three_held_out_wordings():
    families = {t.family.id: t.family for t in THEOREMS}
    assert all(len(f.templates_for("heldout")) >= 3 for f in families.values())
