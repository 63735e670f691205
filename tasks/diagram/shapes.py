"""The diagram world's theorems and wordings: geometry problems whose givens are partly drawn.

Each family is a figure kind (triangle, rectangle, right triangle, parallel lines cut by a
transversal, a circle with a central and an inscribed angle) with wording templates that state
some givens in the text and say that one given is *marked on the figure*: its value appears only
in the image (the GeoQA setting, where a model must read the diagram). `FIGURE_VALUE` names that
value's key per family.

The five text-world geometry theorems are reused as they are (same ids, statements, premises and
rules, so their Cond / Map / Exec traces are the text world's); only their wording family is the
diagram one. Two theorems exist only here, because they need a drawing: co-interior angles of
parallel lines, and the inscribed angle theorem.
"""

from __future__ import annotations

import dataclasses
import random

from tsft.tasks.world.geometry import HELDOUT_ANGLES, TRAIN_ANGLES
from tsft.tasks.world.geometry import THEOREMS as WORLD_GEOMETRY
from tsft.tasks.world.theorem import Catalogue, Exec, Family, Template, Theorem, Values

_FIG = "as marked on the figure"

TRIANGLE = Family(
    id="diagram_triangle", letter_kind="vertex", letter_roles=("A", "B", "C"),
    templates=(
        Template("diagram_triangle/0", "{name} draws triangle {A}{B}{C}.",
                 ("angle {A} is {a} degrees", f"angle {{B}} is {_FIG}"),
                 "What is the {ask} angle at {C} in degrees?"),
        Template("diagram_triangle/1", "In the triangle {A}{B}{C} of the figure, drawn by {name},",
                 ("angle {A} measures {a} degrees", f"angle {{B}} is {_FIG}"),
                 "Find the {ask} angle at vertex {C} in degrees."),
        Template("diagram_triangle/2", "{name} labels the triangle {A}{B}{C} in the figure:",
                 ("the angle at {A} is {a} degrees", f"the angle at {{B}} is {_FIG}"),
                 "How many degrees is the {ask} angle at {C}?"),
        Template("diagram_triangle/3", "The figure of {name} shows triangle {A}{B}{C};",
                 ("its corner {A} spans {a} degrees", f"its corner {{B}} is {_FIG}"),
                 "Give the size of the {ask} angle at corner {C}, in degrees.", role="heldout"),
    ),
)

RECTANGLE = Family(
    id="diagram_rectangle", letter_kind="vertex", letter_roles=("A", "B", "C", "D"), units=("cm", "m"),
    templates=(
        Template("diagram_rectangle/0", "{name} draws rectangle {A}{B}{C}{D}.",
                 ("side {A}{B} is {a} {unit} long", f"side {{B}}{{C}} is {_FIG}"),
                 "What is the {ask} of the rectangle?"),
        Template("diagram_rectangle/1", "In the figure, rectangle {A}{B}{C}{D} belongs to {name}:",
                 ("its side {A}{B} is {a} {unit}", f"its side {{B}}{{C}} is {_FIG}"),
                 "Find the {ask} of the rectangle."),
        Template("diagram_rectangle/2", "{name} cuts the rectangle {A}{B}{C}{D} of the figure out of paper.",
                 ("the side {A}{B} measures {a} {unit}", f"the side {{B}}{{C}} is {_FIG}"),
                 "How large is its {ask}?"),
        Template("diagram_rectangle/3", "The floor plan of {name} is the figure's rectangle {A}{B}{C}{D};",
                 ("it stretches {a} {unit} from {A} to {B}", f"its side {{B}}{{C}} is {_FIG}"),
                 "Work out the {ask} of this room.", role="heldout"),
    ),
)

RIGHT_TRIANGLE = Family(
    id="diagram_right_triangle", letter_kind="vertex", letter_roles=("A", "B", "C"), units=("cm", "m"),
    templates=(
        Template("diagram_right_triangle/0", "{name} draws a right triangle {A}{B}{C} with the right angle at {C}.",
                 ("leg {A}{C} is {a} {unit}", f"leg {{B}}{{C}} is {_FIG}"),
                 "How long is the hypotenuse {A}{B}?"),
        Template("diagram_right_triangle/1", "In the figure of {name}, angle {C} of triangle {A}{B}{C} is 90 degrees:",
                 ("side {A}{C} is {a} {unit} long", f"side {{B}}{{C}} is {_FIG}"),
                 "Find the length of side {A}{B}."),
        Template("diagram_right_triangle/2", "{name} builds a ramp shaped like the triangle {A}{B}{C} of the figure, "
                 "right-angled at {C}.", ("side {A}{C} measures {a} {unit}", f"side {{B}}{{C}} is {_FIG}"),
                 "What is the length of {A}{B}?"),
        Template("diagram_right_triangle/3", "The figure shows a ladder {A}{B} of {name}, square to the ground at {C};",
                 ("its foot {A} is {a} {unit} from {C}", f"its height {{B}}{{C}} is {_FIG}"),
                 "How long is the ladder?", role="heldout"),
    ),
)

PARALLEL = Family(
    id="diagram_parallel", letter_kind="vertex", letter_roles=("A", "B", "C", "D", "G", "H"),
    templates=(
        Template("diagram_parallel/0", "{name} draws parallel lines {A}{B} and {C}{D}, cut by a line at {G} and {H}.",
                 (f"angle {{A}}{{G}}{{H}} is {_FIG}",), "What is angle {G}{H}{C} in degrees?"),
        Template("diagram_parallel/1", "In the figure of {name}, line {A}{B} is parallel to line {C}{D};",
                 (f"a transversal meets them at {{G}} and {{H}} and angle {{A}}{{G}}{{H}} is {_FIG}",),
                 "Find angle {G}{H}{C} in degrees."),
        Template("diagram_parallel/2", "{name} marks two parallel lines {A}{B} and {C}{D} in the figure.",
                 (f"a line crosses them at {{G}} and {{H}}, with angle {{A}}{{G}}{{H}} {_FIG}",),
                 "How many degrees is angle {G}{H}{C}?"),
        Template("diagram_parallel/3", "Two rails {A}{B} and {C}{D} of {name} run parallel in the figure;",
                 (f"a sleeper crosses them at {{G}} and {{H}} and angle {{A}}{{G}}{{H}} is {_FIG}",),
                 "Give angle {G}{H}{C} in degrees.", role="heldout"),
    ),
)

CIRCLE = Family(
    id="diagram_circle", letter_kind="vertex", letter_roles=("O", "A", "B", "C"),
    templates=(
        Template("diagram_circle/0", "{name} draws a circle with center {O} through {A}, {B} and {C}.",
                 (f"the central angle {{A}}{{O}}{{B}} is {_FIG}",), "What is angle {A}{C}{B} in degrees?"),
        Template("diagram_circle/1", "In the figure of {name}, {A}, {B} and {C} lie on a circle centered at {O};",
                 (f"angle {{A}}{{O}}{{B}} is {_FIG}",), "Find the inscribed angle {A}{C}{B} in degrees."),
        Template("diagram_circle/2", "{name} marks points {A}, {B} and {C} on the circle of center {O} in the figure.",
                 (f"angle {{A}}{{O}}{{B}} is {_FIG}",), "How many degrees is angle {A}{C}{B}?"),
        Template("diagram_circle/3", "The round table of {name} is the figure's circle, center {O}, with seats {A}, "
                 "{B} and {C} on its edge;", (f"angle {{A}}{{O}}{{B}} is {_FIG}",),
                 "Give angle {A}{C}{B} in degrees.", role="heldout"),
    ),
)


def sample_transversal(rng: random.Random, number_range: str) -> Values:
    return {"a": rng.choice(TRAIN_ANGLES if number_range == "train" else HELDOUT_ANGLES)}


def sample_central(rng: random.Random, number_range: str) -> Values:
    pool = range(40, 170, 20) if number_range == "train" else range(30, 170, 20)
    return {"a": rng.choice(tuple(pool))}


def co_interior_rule(v: Values, ex: Exec) -> int:
    return ex.op(180, "-", v["a"])


def inscribed_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["a"], "/", 2)


_FAMILY_OF = {"triangle_angles": TRIANGLE, "rectangle": RECTANGLE, "right_triangle": RIGHT_TRIANGLE}
THEOREMS: tuple[Theorem, ...] = (
    *(dataclasses.replace(t, family=_FAMILY_OF[t.family.id]) for t in WORLD_GEOMETRY),
    Theorem(
        id="co_interior_angles", name="co-interior angles theorem", domain="geometry", family=PARALLEL, ask="",
        statement="When a transversal cuts two parallel lines, the co-interior angles X and Y satisfy X + Y = 180 "
                  "degrees.",
        slots=(("X", "angle {A}{G}{H}", "a"), ("Y", "angle {G}{H}{C}", None)),
        premises=(("{A}{B} is parallel to {C}{D}", lambda v: True), ("0 < {a} < 180", lambda v: 0 < v["a"] < 180)),
        conclusion="angle {G}{H}{C}", sample=sample_transversal, rule=co_interior_rule,
    ),
    Theorem(
        id="inscribed_angle", name="inscribed angle theorem", domain="geometry", family=CIRCLE, ask="",
        statement="An inscribed angle I is half the central angle Z that subtends the same arc: I = Z / 2.",
        slots=(("Z", "angle {A}{O}{B}", "a"), ("I", "angle {A}{C}{B}", None)),
        premises=(("{A}, {B}, {C} lie on the circle with center {O}", lambda v: True),
                  ("{C} is on the major arc", lambda v: True)),
        conclusion="angle {A}{C}{B}", sample=sample_central, rule=inscribed_rule,
    ),
)
CATALOGUE = Catalogue(THEOREMS, "diagram theorem")
BY_ID: dict[str, Theorem] = CATALOGUE.by_id
get_theorem = CATALOGUE.get
siblings = CATALOGUE.siblings
FIGURE_VALUE = {TRIANGLE.id: "b", RECTANGLE.id: "b", RIGHT_TRIANGLE.id: "b", PARALLEL.id: "a", CIRCLE.id: "a"}
"""The value key each family shows only on the figure."""
FIGURE_UNIT = {TRIANGLE.id: "°", PARALLEL.id: "°", CIRCLE.id: "°"}
"""How the figure writes the value (degrees get a degree sign; lengths are bare numbers)."""

