"""Combinatorics theorems: combinations and arrangements (one wording, "choose" vs "arrange"),
the sum and product rules of counting (one wording, "or" vs "and"), and the pigeonhole
principle.

Falling factorials are built one factor at a time ("5 - 1 = 4", "5 * 4 = 20"), so no step
multiplies more than two numbers.
"""

from __future__ import annotations

import random

from tsft.tasks.world.theorem import Exec, Family, Template, Theorem, Values

SELECTION = Family(
    id="selection",
    letter_kind="label",
    letter_roles=("L",),
    templates=(
        Template("selection/0", "", ("{name} has {n} different books on shelf {L}",),
                 "In how many ways can {name} {ask} {k} of them?"),
        Template("selection/1", "", ("there are {n} runners in club {L} of {name}",),
                 "In how many ways can the coach {ask} {k} of the runners?"),
        Template("selection/2", "{name} looks at box {L}:", ("it holds {n} distinct toys",),
                 "How many ways are there to {ask} {k} of the toys?"),
        Template("selection/3", "", ("team {L} of {name} has {n} players available",),
                 "Count the ways to {ask} {k} of those players.", role="heldout"),
        Template("selection/4", "", ("garden {L} of {name} grows {n} different kinds of flowers",),
                 "Tell the number of ways to {ask} {k} of the kinds.", role="heldout"),
        Template("selection/5", "", ("{name} owns {n} distinct stamps in album {L}",),
                 "Give the number of ways to {ask} {k} of the stamps.", role="heldout"),
    ),
)

COUNTING = Family(
    id="counting",
    letter_kind="label",
    letter_roles=("L",),
    templates=(
        Template("counting/0", "At cafe {L} of {name},",
                 ("there are {a} soups on the menu", "there are {b} salads on the menu"),
                 "In how many ways can a guest pick one soup {ask} one salad?"),
        Template("counting/1", "{name} packs bag {L} for a trip:", ("{a} shirts are clean", "{b} hats are clean"),
                 "How many ways are there to take one shirt {ask} one hat?"),
        Template("counting/2", "At fair {L},", ("{a} rides are outdoors", "{b} rides are indoors"),
                 "In how many ways can {name} try one outdoor ride {ask} one indoor ride?"),
        Template("counting/3", "Shelf {L} of {name} holds", ("{a} novels", "{b} comics"),
                 "Count the ways to borrow a novel {ask} a comic.", role="heldout"),
        Template("counting/4", "Stall {L} at the market of {name} sells", ("{a} kinds of bread", "{b} kinds of jam"),
                 "Tell the ways to buy one bread {ask} one jam.", role="heldout"),
        Template("counting/5", "In wardrobe {L} of {name},", ("{a} scarves hang", "{b} caps lie"),
                 "Give the number of ways to wear one scarf {ask} one cap.", role="heldout"),
    ),
)

PIGEONHOLE = Family(
    id="pigeonhole",
    letter_kind="label",
    letter_roles=("L",),
    templates=(
        Template("pigeonhole/0", "{name} puts socks into the drawers of cabinet {L}:",
                 ("there are {m} socks", "there are {n} drawers"),
                 "At least how many socks must the fullest drawer hold?"),
        Template("pigeonhole/1", "At office {L},", ("{m} letters arrive", "{name} sorts them into {n} boxes"),
                 "What is the smallest possible number of letters in the fullest box?"),
        Template("pigeonhole/2", "In school {L} of {name},",
                 ("{m} pupils need a room", "there are {n} classrooms"),
                 "At minimum, how many pupils end up in the most crowded classroom?"),
        Template("pigeonhole/3", "", ("{name} scatters {m} marbles into the {n} cups of tray {L}",),
                 "Which number of marbles is the fullest cup sure to reach?", role="heldout"),
        Template("pigeonhole/4", "At party {L},", ("{name} hands out {m} balloons", "{n} children get them"),
                 "Tell the least number of balloons the luckiest child must end up with.", role="heldout"),
        Template("pigeonhole/5", "", ("{m} birds land on the {n} wires of pole {L} near {name}",),
                 "Give the fewest birds the busiest wire must carry.", role="heldout"),
    ),
)


def sample_selection(rng: random.Random, number_range: str) -> Values:
    if number_range == "train":
        return {"n": rng.randint(4, 9), "k": rng.randint(2, 3)}
    return {"n": rng.randint(11, 14), "k": rng.randint(3, 4)}


def sample_two_sets(rng: random.Random, number_range: str) -> Values:
    low, high = (2, 9) if number_range == "train" else (11, 19)
    return {"a": rng.randint(low, high), "b": rng.randint(low, high)}


def sample_pigeons(rng: random.Random, number_range: str) -> Values:
    if number_range == "train":
        n = rng.randint(2, 5)
        return {"m": rng.randint(n + 1, 4 * n), "n": n}
    n = rng.randint(11, 15)
    return {"m": rng.randint(2 * n + 1, 5 * n), "n": n}


def falling_factorial(n: int, k: int, ex: Exec) -> int:
    value = n
    for i in range(1, k):
        value = ex.op(value, "*", ex.op(n, "-", i))
    return value


def factorial(k: int, ex: Exec) -> int:
    value = 1
    for i in range(2, k + 1):
        value = ex.op(value, "*", i)
    return value


def arrangements_rule(v: Values, ex: Exec) -> int:
    return falling_factorial(v["n"], v["k"], ex)


def combinations_rule(v: Values, ex: Exec) -> int:
    ordered = falling_factorial(v["n"], v["k"], ex)
    return ex.op(ordered, "/", factorial(v["k"], ex))


def sum_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["a"], "+", v["b"])


def product_rule(v: Values, ex: Exec) -> int:
    return ex.op(v["a"], "*", v["b"])


def pigeonhole_rule(v: Values, ex: Exec) -> int:
    return ex.op(ex.op(ex.op(v["m"], "+", v["n"]), "-", 1), "//", v["n"])


_SELECTION_SLOTS = (("N", "number of items", "n"), ("K", "number selected", "k"))
_SELECTION_PREMISES = (("the {n} items are distinct", lambda v: True),
                       ("{k} <= {n}", lambda v: v["k"] <= v["n"]))
_SETS_SLOTS = (("A", "size of the first set", "a"), ("B", "size of the second set", "b"))

THEOREMS = (
    Theorem(
        id="combinations", name="combination formula", domain="combinatorics", family=SELECTION,
        ask="choose",
        statement="The number of ways to choose K of N distinct items, order ignored, is "
                  "N * (N-1) * ... * (N-K+1) / K!.",
        slots=(*_SELECTION_SLOTS, ("C", "number of selections", None)),
        premises=_SELECTION_PREMISES, conclusion="number of selections", sample=sample_selection,
        rule=combinations_rule,
    ),
    Theorem(
        id="arrangements", name="arrangement formula", domain="combinatorics", family=SELECTION,
        ask="arrange",
        statement="The number of ordered arrangements of K of N distinct items is N * (N-1) * ... * (N-K+1).",
        slots=(*_SELECTION_SLOTS, ("P", "number of arrangements", None)),
        premises=_SELECTION_PREMISES, conclusion="number of arrangements", sample=sample_selection,
        rule=arrangements_rule,
    ),
    Theorem(
        id="sum_rule", name="sum rule of counting", domain="combinatorics", family=COUNTING,
        ask="or",
        statement="If a choice is one item from set A or one item from a disjoint set B, there are "
                  "|A| + |B| ways.",
        slots=(*_SETS_SLOTS, ("W", "number of ways", None)),
        premises=(("the two sets are disjoint", lambda v: True),),
        conclusion="number of ways", sample=sample_two_sets, rule=sum_rule,
    ),
    Theorem(
        id="product_rule", name="product rule of counting", domain="combinatorics", family=COUNTING,
        ask="and",
        statement="If a choice is one item from set A and then one item from set B, there are |A| * |B| ways.",
        slots=(*_SETS_SLOTS, ("W", "number of ways", None)),
        premises=(("the two choices are independent", lambda v: True),),
        conclusion="number of ways", sample=sample_two_sets, rule=product_rule,
    ),
    Theorem(
        id="pigeonhole", name="pigeonhole principle", domain="combinatorics", family=PIGEONHOLE,
        ask="",
        statement="If M objects go into N boxes, some box holds at least ceil(M / N) = (M + N - 1) // N "
                  "objects.",
        slots=(("M", "number of objects", "m"), ("N", "number of boxes", "n"),
               ("F", "guaranteed load of the fullest box", None)),
        premises=(("{n} > 0", lambda v: v["n"] > 0),),
        conclusion="guaranteed load of the fullest box", sample=sample_pigeons, rule=pigeonhole_rule,
    ),
)
