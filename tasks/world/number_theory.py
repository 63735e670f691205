"""Number theory theorems: Euclid's algorithm for the greatest common divisor and the lcm identity
(one wording), the divisor-count and divisor-sum formulas (one wording), and Fermat's little
theorem for remainders of powers.

Every Exec step is one operation on small numbers: Euclid's algorithm is a chain of `mod` steps,
factorization a chain of divisions by a prime, and powers modulo p alternate `*` and `mod`.
"""

from __future__ import annotations

import random

from tsft.tasks.world.theorem import Exec, Family, Template, Theorem, Values

GCD_LCM = Family(
    id="gcd_lcm",
    letter_kind="label",
    letter_roles=("M", "N"),
    templates=(
        Template("gcd_lcm/0", "{name} picks two numbers.", ("{M} = {a}", "{N} = {b}"),
                 "What is the {ask} of {M} and {N}?"),
        Template("gcd_lcm/1", "{name} has two whole numbers:", ("{M} is {a}", "{N} is {b}"),
                 "Find the {ask} of {M} and {N}."),
        Template("gcd_lcm/2", "For a puzzle of {name},", ("let {M} be {a}", "let {N} be {b}"),
                 "Compute the {ask} of {M} and {N}."),
        Template("gcd_lcm/3", "", ("number {M} equals {a}", "number {N} equals {b}"),
                 "{name} is looking for their {ask}.", role="heldout"),
        Template("gcd_lcm/4", "{name} compares two counts.", ("count {M} is {a}", "count {N} is {b}"),
                 "Tell the {ask} of the two counts.", role="heldout"),
        Template("gcd_lcm/5", "", ("{a} is the value of {M} and {b} the value of {N}",),
                 "{name} needs the {ask} of {M} and {N}.", role="heldout"),
    ),
)

DIVISORS = Family(
    id="divisors",
    letter_kind="label",
    letter_roles=("M",),
    templates=(
        Template("divisors/0", "{name} looks at a number {M}:", ("{M} = {n}",),
                 "What is the {ask} of the positive divisors of {M}?"),
        Template("divisors/1", "{name} lists every positive divisor of {M},", ("where {M} is {n}",),
                 "What is the {ask} of those divisors?"),
        Template("divisors/2", "{name} is given a number {M},", ("which equals {n}",),
                 "Compute the {ask} of its positive divisors."),
        Template("divisors/3", "", ("the integer {M} is {n}",),
                 "{name} wants the {ask} of the numbers that divide {M} evenly.", role="heldout"),
        Template("divisors/4", "{name} thinks about the whole number {M}.", ("{M} has the value {n}",),
                 "Tell the {ask} of all positive whole numbers dividing {M}.", role="heldout"),
        Template("divisors/5", "", ("{name} splits {n} sweets of jar {M} into equal groups",),
                 "Give the {ask} of the positive divisors of {n}.", role="heldout"),
    ),
)

POWERS = Family(
    id="power_remainder",
    letter_kind="label",
    letter_roles=(),
    templates=(
        Template("power_remainder/0", "{name} works modulo the prime {p}:",
                 ("the base is {a}", "the exponent is {k}"),
                 "What is the remainder when the base raised to the exponent is divided by {p}?"),
        Template("power_remainder/1", "", ("{name} takes {a} to the power {k}",),
                 "What remainder does it leave when divided by the prime {p}?"),
        Template("power_remainder/2", "Let {p} be prime.", ("{name} computes {a} to the power {k} mod {p}",),
                 "What is the result?"),
        Template("power_remainder/3", "", ("{name} divides {a} raised to the power {k} by the prime {p}",),
                 "Which remainder comes out?", role="heldout"),
        Template("power_remainder/4", "{name} raises {a} to the power {k}.", ("the prime modulus is {p}",),
                 "Tell the remainder modulo {p}.", role="heldout"),
        Template("power_remainder/5", "", ("{a} to the power {k} is divided by the prime {p} by {name}",),
                 "Give what is left over.", role="heldout"),
    ),
)


def sample_pair(rng: random.Random, number_range: str) -> Values:
    low, high = (2, 12) if number_range == "train" else (13, 40)
    a = rng.randint(low, high)
    b = rng.choice([x for x in range(low, high + 1) if x != a])
    return {"a": a, "b": b}


def _is_smooth(n: int, primes: tuple[int, ...]) -> bool:
    """True when n > 1 has no prime factor outside `primes`."""
    for prime in primes:
        while n % prime == 0:
            n //= prime
    return n == 1


TRAIN_FACTORED = tuple(n for n in range(6, 61) if _is_smooth(n, (2, 3, 5)))
HELDOUT_FACTORED = tuple(n for n in range(61, 201) if _is_smooth(n, (2, 3, 5, 7)))


def sample_factored(rng: random.Random, number_range: str) -> Values:
    return {"n": rng.choice(TRAIN_FACTORED if number_range == "train" else HELDOUT_FACTORED)}


def sample_power(rng: random.Random, number_range: str) -> Values:
    if number_range == "train":
        p = rng.choice((3, 5, 7))
        a = rng.choice([x for x in range(2, 10) if x % p])
        k = rng.choice([x for x in range(p, 16) if x % (p - 1)])
    else:
        p = rng.choice((11, 13))
        a = rng.choice([x for x in range(2, 21) if x % p])
        k = rng.choice([x for x in range(20, 41) if x % (p - 1)])
    return {"a": a, "k": k, "p": p}


def euclid(a: int, b: int, ex: Exec) -> int:
    while b:
        a, b = b, ex.op(a, "mod", b)
    return a


def gcd_rule(v: Values, ex: Exec) -> int:
    return euclid(v["a"], v["b"], ex)


def lcm_rule(v: Values, ex: Exec) -> int:
    product = ex.op(v["a"], "*", v["b"])
    return ex.op(product, "/", euclid(v["a"], v["b"], ex))


def factor(n: int, ex: Exec) -> list[tuple[int, int]]:
    """Trial division, one division per step; returns [(prime, exponent)]."""
    exponents: list[tuple[int, int]] = []
    for prime in (2, 3, 5, 7, 11, 13):
        count = 0
        while n % prime == 0:
            n = ex.op(n, "/", prime)
            count += 1
        if count:
            exponents.append((prime, count))
    if n != 1:
        raise ValueError(f"{n} has a prime factor above 13")
    return exponents


def divisor_count_rule(v: Values, ex: Exec) -> int:
    counts = [ex.op(e, "+", 1) for _, e in factor(v["n"], ex)]
    total = counts[0]
    for c in counts[1:]:
        total = ex.op(total, "*", c)
    return total


def divisor_sum_rule(v: Values, ex: Exec) -> int:
    sums = []
    for prime, exponent in factor(v["n"], ex):
        power, running = prime, ex.op(1, "+", prime)
        for _ in range(exponent - 1):
            power = ex.op(power, "*", prime)
            running = ex.op(running, "+", power)
        sums.append(running)
    total = sums[0]
    for s in sums[1:]:
        total = ex.op(total, "*", s)
    return total


def fermat_rule(v: Values, ex: Exec) -> int:
    a, k, p = v["a"], v["k"], v["p"]
    reduced_exponent = ex.op(k, "mod", p - 1)
    base = ex.op(a, "mod", p)
    value = base
    for _ in range(reduced_exponent - 1):
        value = ex.op(ex.op(value, "*", base), "mod", p)
    return value


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


_PAIR_SLOTS = (("A", "{M}", "a"), ("B", "{N}", "b"))
_PAIR_PREMISES = (("{a} and {b} are positive integers", lambda v: v["a"] > 0 and v["b"] > 0),)

THEOREMS = (
    Theorem(
        id="gcd_euclid", name="Euclidean algorithm", domain="number_theory", family=GCD_LCM,
        ask="greatest common divisor",
        statement="gcd(A, B) = gcd(B, A mod B), and gcd(A, 0) = A.",
        slots=(*_PAIR_SLOTS, ("G", "gcd of {M} and {N}", None)),
        premises=_PAIR_PREMISES, conclusion="gcd of {M} and {N}", sample=sample_pair, rule=gcd_rule,
    ),
    Theorem(
        id="lcm_gcd", name="lcm-gcd identity", domain="number_theory", family=GCD_LCM,
        ask="least common multiple",
        statement="lcm(A, B) = A * B / gcd(A, B).",
        slots=(*_PAIR_SLOTS, ("L", "lcm of {M} and {N}", None)),
        premises=_PAIR_PREMISES, conclusion="lcm of {M} and {N}", sample=sample_pair, rule=lcm_rule,
    ),
    Theorem(
        id="divisor_count", name="divisor counting formula", domain="number_theory", family=DIVISORS,
        ask="number",
        statement="If N = p1^e1 * ... * pk^ek, then N has (e1 + 1) * ... * (ek + 1) positive divisors.",
        slots=(("N", "{M}", "n"), ("D", "number of divisors of {M}", None)),
        premises=(("{n} is a positive integer", lambda v: v["n"] > 0),),
        conclusion="number of divisors of {M}", sample=sample_factored, rule=divisor_count_rule,
    ),
    Theorem(
        id="divisor_sum", name="divisor sum formula", domain="number_theory", family=DIVISORS,
        ask="sum",
        statement="If N = p1^e1 * ... * pk^ek, the positive divisors of N sum to "
                  "(1 + p1 + ... + p1^e1) * ... * (1 + pk + ... + pk^ek).",
        slots=(("N", "{M}", "n"), ("S", "sum of divisors of {M}", None)),
        premises=(("{n} is a positive integer", lambda v: v["n"] > 0),),
        conclusion="sum of divisors of {M}", sample=sample_factored, rule=divisor_sum_rule,
    ),
    Theorem(
        id="fermat_little", name="Fermat's little theorem", domain="number_theory", family=POWERS,
        ask="",
        statement="If P is prime and does not divide A, then A^(P-1) mod P = 1, so A^K mod P = "
                  "A^(K mod (P-1)) mod P.",
        slots=(("A", "base", "a"), ("K", "exponent", "k"), ("P", "prime modulus", "p"),
               ("R", "remainder", None)),
        premises=(("{p} is prime", lambda v: _is_prime(v["p"])), ("{p} does not divide {a}",
                                                                  lambda v: v["a"] % v["p"] != 0)),
        conclusion="remainder", sample=sample_power, rule=fermat_rule,
    ),
)
