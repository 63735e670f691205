"""The diagram world and the GeoQA loader: figures, figure-only givens, image perturbations."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

pytest.importorskip("PIL")

from tsft.tasks.build import build
from tsft.tasks.dataset import load_dataset
from tsft.tasks.diagram.draw import LAYOUTS, png_bytes
from tsft.tasks.diagram.world import (
    ANSWER_INVARIANT,
    IMAGE_KINDS,
    DiagramConfig,
    figure_image,
    figure_value,
    generate_splits,
    given_swap,
    perturb,
)
from tsft.tasks.io import DataError
from tsft.tasks.perturbing import NotApplicable

FIXTURE = Path(__file__).parent / "fixtures" / "geoqa"


def hand_answer(theorem_id: str, v: dict) -> int:
    """Each rule written out again, independently of the theorem objects."""
    return {
        "triangle_angle_sum": lambda: 180 - v["a"] - v["b"],
        "exterior_angle": lambda: v["a"] + v["b"],
        "rectangle_area": lambda: v["a"] * v["b"],
        "rectangle_perimeter": lambda: 2 * v["a"] + 2 * v["b"],
        "pythagorean": lambda: round(math.hypot(v["a"], v["b"])),
        "co_interior_angles": lambda: 180 - v["a"],
        "inscribed_angle": lambda: v["a"] // 2,
    }[theorem_id]()


@pytest.fixture(scope="module")
def splits():
    return generate_splits(DiagramConfig(seed=3, n_train=70, n_test=35))


def test_answers_follow_the_rules_and_every_theorem_appears(splits):
    train, test = splits
    seen = set()
    for problem in train + test:
        theorem = problem.theorems[0].theorem_id
        seen.add(theorem)
        assert problem.answer == str(hand_answer(theorem, problem.surface["values"]))
        assert problem.image == f"images/{problem.id}.png"
    assert len(seen) == 7
    assert not {(p.text, figure_value(p)) for p in train} & {(p.text, figure_value(p)) for p in test}


def test_the_figure_only_given_is_absent_from_the_text(splits):
    swapped = 0
    for problem in splits[1]:
        try:
            other = given_swap(problem, seed=1)
        except NotApplicable:
            assert problem.theorems[0].theorem_id == "pythagorean"
            continue
        swapped += 1
        assert other.text == problem.text  # the text never states the figure's value
        assert other.answer != problem.answer
        assert png_bytes(figure_image(other)) != png_bytes(figure_image(problem))
    assert swapped >= 30


def test_the_triangle_is_drawn_with_its_angles():
    layout = LAYOUTS["diagram_triangle"]({"a": 40, "b": 70})
    A, B, C = (layout.points[k] for k in "ABC")

    def angle(at, p, q):
        u, v = (p[0] - at[0], p[1] - at[1]), (q[0] - at[0], q[1] - at[1])
        return math.degrees(math.acos((u[0] * v[0] + u[1] * v[1]) / (math.hypot(*u) * math.hypot(*v))))

    assert angle(A, B, C) == pytest.approx(40)
    assert angle(B, A, C) == pytest.approx(70)
    assert angle(C, A, B) == pytest.approx(70)


@pytest.mark.parametrize("kind", ["rotate", "mirror", "move_label", "distractor_mark", "letter_rename",
                                  "entity_rename", "heldout_template", "out_of_range"])
def test_perturbations_act_on_text_or_image_and_keep_answers_honest(splits, kind):
    for problem in splits[1][:14]:
        row = perturb(problem, kind, seed=0)
        new = row.problem
        image_changed = png_bytes(figure_image(new)) != png_bytes(figure_image(problem))
        if kind in IMAGE_KINDS:
            assert new.text == problem.text and image_changed
        elif kind in ("entity_rename", "heldout_template"):
            assert new.text != problem.text and not image_changed
        else:  # letter_rename and out_of_range redraw both
            assert new.text != problem.text or image_changed
        assert new.answer == str(hand_answer(new.theorems[0].theorem_id, new.surface["values"]))
        if kind in ANSWER_INVARIANT:
            assert new.answer == problem.answer and not row.answer_changed


def test_build_is_byte_identical_and_loads_with_absolute_images(tmp_path):
    config = dict(n_train=14, n_test=7, seed=5)
    first = build("diagram", tmp_path / "a", **config)
    second = build("diagram", tmp_path / "b", **config)
    assert first["sha256"] == second["sha256"]
    figures = 14 + 7 + sum(first["counts"]["perturbed"].values())  # one per problem, perturbed ones included
    assert sum(name.startswith("images/") for name in first["sha256"]) == figures
    assert first["counts"]["perturbed"]["rotate"] == 7 and first["answer_changed"]["given_swap"] == \
        first["counts"]["perturbed"]["given_swap"]
    data = load_dataset(tmp_path / "a")
    assert Path(data.test[0].image).is_absolute() and Path(data.test[0].image).is_file()
    assert Path(data.perturbed["rotate"][0].problem.image).name == "dia-test-000000~rotate.png"
    (tmp_path / "a" / data.test[0].image).write_bytes(b"edited")
    with pytest.raises(DataError, match="content differs"):
        load_dataset(tmp_path / "a")


def test_geoqa_fixture_loads_with_unit_free_answers_and_programs(tmp_path):
    build("geoqa", tmp_path / "g", path=FIXTURE)
    problems = load_dataset(tmp_path / "g").test
    assert [p.answer for p in problems] == ["70", "5", "50"]
    assert problems[0].meta["program"][:3] == ["g_minus", "C_3", "N_0"]
    assert problems[2].meta["choices"] == ["40°", "50°", "80°", "100°"]
    assert all(Path(p.image).read_bytes() == (FIXTURE / f"{i}.png").read_bytes() for i, p in enumerate(problems))


def test_geoqa_bad_rows_name_file_and_field(tmp_path):
    folder = tmp_path / "geo"
    shutil.copytree(FIXTURE, folder)
    row = json.loads((folder / "1.json").read_text())
    (folder / "1.json").write_text(json.dumps({**row, "label": 7}))
    with pytest.raises(DataError, match=r"1\.json.*field 'label'"):
        build("geoqa", tmp_path / "out", path=folder)
    (folder / "1.json").write_text(json.dumps(row))
    (folder / "2.png").unlink()
    with pytest.raises(DataError, match=r"2\.json.*field 'image': figure .*2\.png not found"):
        build("geoqa", tmp_path / "out", path=folder)
    assert not (tmp_path / "out").exists()
    lines = tmp_path / "rows.jsonl"
    lines.write_text(json.dumps({**row, "image": "geo/1.png", "answer": "A"}).replace('"label": 0, ', "") + "\n")
    result = build("geoqa", tmp_path / "jl", path=lines)
    assert result["counts"]["test"] == 1
