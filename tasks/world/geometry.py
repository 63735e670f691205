"""Geometry theorems: triangle angle sum and exterior angle (one wording), rectangle area and
perimeter (one wording), and the Pythagorean theorem.

Angles in the training range are multiples of 10 degrees; the held-out range uses odd multiples
of 5. Right triangles use Pythagorean triples, different ones in the held-out range.
"""

from __future__ import annotations

import random

from tsft.tasks.world.theorem import Exec, Family, Template, Theorem, Values

TRIANGLE = Family(
    id="triangle_angles",
    letter_kind="vertex",
    letter_roles=("A", "B", "C"),
    templates=(
        Template("triangle_angles/0", "{name} draws triangle {A}{B}{C}.",
                 ("angle {A} is {a} degrees", "angle {B} is {b} degrees"),
                 "What is the {ask} angle at {C} in degrees?"),
        Template("triangle_angles/1", "In triangle {A}{B}{C}, drawn by {name},",
                 ("angle {A} measures {a} degrees", "angle {B} measures {b} degrees"),
                 "Find the {ask} angle at vertex {C} in degrees."),
        Template("triangle_angles/2", "{name} measures two angles of triangle {A}{B}{C}:",
                 ("the angle at {A} is {a} degrees", "the angle at {B} is {b} degrees"),
                 "How many degrees is the {ask} angle at {C}?"),
        Template("triangle_angles/3", "Triangle {A}{B}{C} sits on the page of {name};",
                 ("its corner {A} spans {a} degrees", "its corner {B} spans {b} degrees"),
                 "Give the size of the {ask} angle at corner {C}, in degrees.", role="heldout"),
        Template("triangle_angles/4", "Two corners of the triangle {A}{B}{C} that {name} cut from card are known:",
                 ("corner {A} is {a} degrees", "corner {B} is {b} degrees"),
                 "How big, in degrees, is the {ask} angle at {C}?", role="heldout"),
        Template("triangle_angles/5", "{name} is told about triangle {A}{B}{C}.",
                 ("{a} degrees is the angle at {A}", "{b} degrees is the angle at {B}"),
                 "Tell the {ask} angle at {C} in degrees.", role="heldout"),
    ),
)

RECTANGLE = Family(
    id="rectangle",
    letter_kind="vertex",
    letter_roles=("A", "B", "C", "D"),
    units=("cm", "m", "km", "mm"),
    templates=(
        Template("rectangle/0", "{name} has a rectangular garden {A}{B}{C}{D}.",
                 ("side {A}{B} is {a} {unit} long", "side {B}{C} is {b} {unit} long"),
                 "What is the {ask} of the garden?"),
        Template("rectangle/1", "Rectangle {A}{B}{C}{D} belongs to {name}:",
                 ("its length is {a} {unit}", "its width is {b} {unit}"),
                 "Find the {ask} of the rectangle."),
        Template("rectangle/2", "{name} cuts a rectangle {A}{B}{C}{D} out of paper.",
                 ("the side {A}{B} measures {a} {unit}", "the side {A}{D} measures {b} {unit}"),
                 "How large is its {ask}?"),
        Template("rectangle/3", "On the floor plan of {name},",
                 ("room {A}{B}{C}{D} stretches {a} {unit} from {A} to {B}",
                  "room {A}{B}{C}{D} stretches {b} {unit} from {B} to {C}"),
                 "Work out the {ask} of this rectangular room.", role="heldout"),
        Template("rectangle/4", "{name} fences a rectangular field {A}{B}{C}{D}.",
                 ("the fence along {A}{B} runs {a} {unit}", "the fence along {B}{C} runs {b} {unit}"),
                 "What does the {ask} of the field come to?", role="heldout"),
        Template("rectangle/5", "A rectangular tile {A}{B}{C}{D} lies on the desk of {name}.",
                 ("one edge of it is {a} {unit}", "the edge next to it is {b} {unit}"),
                 "Tell the {ask} of the tile.", role="heldout"),
    ),
)

RIGHT_TRIANGLE = Family(
    id="right_triangle",
    letter_kind="vertex",
    letter_roles=("A", "B", "C"),
    units=("cm", "m", "km", "mm"),
    templates=(
        Template("right_triangle/0", "{name} draws a right triangle {A}{B}{C} with the right angle at {C}.",
                 ("leg {A}{C} is {a} {unit}", "leg {B}{C} is {b} {unit}"),
                 "How long is the hypotenuse {A}{B}?"),
        Template("right_triangle/1", "In the right triangle {A}{B}{C} of {name}, angle {C} is 90 degrees:",
                 ("side {A}{C} is {a} {unit} long", "side {B}{C} is {b} {unit} long"),
                 "Find the length of side {A}{B}."),
        Template("right_triangle/2", "{name} builds a ramp shaped like triangle {A}{B}{C}, right-angled at {C}.",
                 ("side {A}{C} measures {a} {unit}", "side {B}{C} measures {b} {unit}"),
                 "What is the length of {A}{B}?"),
        Template("right_triangle/3", "A ladder {A}{B} leans on the wall of {name}, square to the ground at {C};",
                 ("its foot {A} is {a} {unit} from {C}", "its top {B} is {b} {unit} above {C}"),
                 "How long is the ladder?", role="heldout"),
        Template("right_triangle/4", "{name} stretches a rope from {A} to {B} across a right corner at {C}.",
                 ("{A} is {a} {unit} from the corner {C}", "{B} is {b} {unit} from the corner {C}"),
                 "What length of rope runs from {A} to {B}?", role="heldout"),
        Template("right_triangle/5", "A right angle sits at corner {C} of triangle {A}{B}{C}, drawn by {name}.",
                 ("{C}{A} has length {a} {unit}", "{C}{B} has length {b} {unit}"),
                 "Tell how long {A}{B} is.", role="heldout"),
    ),
)

TRAIN_ANGLES = tuple(range(20, 90, 10))
HELDOUT_ANGLES = tuple(range(15, 90, 10))


def sample_angles(rng: random.Random, number_range: str) -> Values:
    pool = TRAIN_ANGLES if number_range == "train" else HELDOUT_ANGLES
    return {"a": rng.choice(pool), "b": rng.choice(pool)}


def sample_sides(rng: random.Random, number_range: str) -> Values:
    low, high = (2, 9) if number_range == "train" else (11, 19)
    return {"a": rng.randint(low, high), "b": rng.randint(low, high)}


TRAIN_TRIPLES = ((3, 4), (6, 8), (5, 12), (9, 12))
HELDOUT_TRIPLES = ((8, 15), (7, 24), (12, 16), (15, 20), (20, 21))


def sample_legs(rng: random.Random, number_range: str) -> Values:
    a, b = rng.choice(TRAIN_TRIPLES if number_range == "train" else HELDOUT_TRIPLES)
    if rng.random() < 0.5:
        a, b = b, a
    return {"a": a, "b": b}


def interior_rule(v: Values, ex: Exec) -> int:
    return ex.op(ex.op(180, "-", v["a"]), "-", v["b"])


def exterior_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["a"], "+", v["b"])


def area_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["a"], "*", v["b"])


def perimeter_rule(v: Values, ex: Exec) -> int:
    return ex.op(2, "*", ex.op(v["a"], "+", v["b"]))


def pythagoras_rule(v: Values, ex: Exec) -> int:
    return ex.sqrt(ex.op(ex.op(v["a"], "*", v["a"]), "+", ex.op(v["b"], "*", v["b"])))


def _angles_ok(v: Values) -> bool:
    return v["a"] > 0 and v["b"] > 0 and v["a"] + v["b"] < 180


def _positive_sides(v: Values) -> bool:
    return v["a"] > 0 and v["b"] > 0


_ANGLE_SLOTS = (("X", "angle {A}", "a"), ("Y", "angle {B}", "b"))
_TRIANGLE_PREMISES = (("{A}{B}{C} is a triangle", lambda v: True), ("{a} + {b} < 180", _angles_ok))
_SIDE_SLOTS = (("L", "side {A}{B}", "a"), ("W", "side {B}{C}", "b"))
_RECTANGLE_PREMISES = (("{A}{B}{C}{D} is a rectangle", lambda v: True), ("{a} > 0 and {b} > 0", _positive_sides))


THEOREMS = (
    Theorem(
        id="triangle_angle_sum", name="triangle angle sum theorem", domain="geometry", family=TRIANGLE,
        ask="interior",
        statement="The interior angles X, Y, Z of any triangle satisfy X + Y + Z = 180 degrees.",
        slots=(*_ANGLE_SLOTS, ("Z", "angle {C}", None)), premises=_TRIANGLE_PREMISES,
        conclusion="angle {C}", sample=sample_angles, rule=interior_rule,
    ),
    Theorem(
        id="exterior_angle", name="exterior angle theorem", domain="geometry", family=TRIANGLE,
        ask="exterior",
        statement="An exterior angle E of a triangle equals the sum X + Y of the two remote interior angles.",
        slots=(*_ANGLE_SLOTS, ("E", "exterior angle at {C}", None)), premises=_TRIANGLE_PREMISES,
        conclusion="exterior angle at {C}", sample=sample_angles, rule=exterior_rule,
    ),
    Theorem(
        id="rectangle_area", name="rectangle area formula", domain="geometry", family=RECTANGLE,
        ask="area",
        statement="A rectangle with sides L and W has area S = L * W.",
        slots=(*_SIDE_SLOTS, ("S", "area of {A}{B}{C}{D}", None)), premises=_RECTANGLE_PREMISES,
        conclusion="area of {A}{B}{C}{D}", sample=sample_sides, rule=area_rule,
    ),
    Theorem(
        id="rectangle_perimeter", name="rectangle perimeter formula", domain="geometry", family=RECTANGLE,
        ask="perimeter",
        statement="A rectangle with sides L and W has perimeter P = 2 * (L + W).",
        slots=(*_SIDE_SLOTS, ("P", "perimeter of {A}{B}{C}{D}", None)), premises=_RECTANGLE_PREMISES,
        conclusion="perimeter of {A}{B}{C}{D}", sample=sample_sides, rule=perimeter_rule,
    ),
    Theorem(
        id="pythagorean", name="Pythagorean theorem", domain="geometry", family=RIGHT_TRIANGLE,
        ask="",
        statement="In a right triangle with legs P and Q, the hypotenuse H satisfies H * H = P * P + Q * Q.",
        slots=(("P", "leg {A}{C}", "a"), ("Q", "leg {B}{C}", "b"), ("H", "hypotenuse {A}{B}", None)),
        premises=(("angle {C} is a right angle", lambda v: True), ("{a} > 0 and {b} > 0", _positive_sides)),
        conclusion="{A}{B}", sample=sample_legs, rule=pythagoras_rule,
    ),
)
