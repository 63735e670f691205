"""Scoring the theorem application, not just the answer: where does a generated chain break?

A theorem-style output has the paper's three parts after naming the rule (training.targets renders them):

    Theorem: triangle angle sum theorem. The interior angles X, Y, Z of any triangle satisfy X + Y + Z = 180.
    Cond: VQW is a triangle (true); 50 + 60 < 180 (true)
    Map: X = angle V = 50; Y = angle Q = 60; Z = angle W
    Exec: 180 - 50 = 130; 130 - 60 = 70
    So angle W = 70
    Answer: 70

Each part is scored against the problem's own trace (its perturbed version's, for a perturbed problem):

* naming   - the named theorem is the reference (training.targets.same_theorem);
* premises - share of the reference premises stated in Cond with the right truth value (up to the order of
  operands of a sum and of and-joined clauses);
* bindings - share of the reference's objects bound, with the right value where the reference has one (slot
  letters aside: symmetric slots may come in either order);
* exec     - step by step, two questions: is the step's arithmetic right as written (`a op b = c` evaluated),
  and is it the reference's step *given the previous ones* (same operation, operands equal to the reference's or
  to what the output itself computed where the reference used an earlier result; + and * in either order), so
  one slip is counted once.

`first_error` is the first part that fails, in the chain's order: format (no trace found), naming, premise,
binding, plan (a step the reference does not take), arithmetic (a step computed wrong), answer (every part right,
the final answer not), none. Solution-style outputs have steps only and are scored from `plan` on. Parsing is
tolerant: a malformed line is a low score, never an exception.
"""

from __future__ import annotations

import json
import math
import operator
import re

import pandas as pd
from tsft.models.targets import named_theorem, same_theorem

ORDER = ("format", "naming", "premise", "binding", "plan", "arithmetic", "answer", "none")
SCORED_TARGETS = ("theorem", "solution")
_STEP = re.compile(r"^\s*(?:(?P<a>-?[\d.]+)\s*(?P<op>\+|-|\*|//|/|mod|x|×)\s*(?P<b>-?[\d.]+)|sqrt\s*(?P<r>-?[\d.]+))"
                   r"\s*=\s*(?P<c>-?[\d.]+)\s*\.?\s*$")
OPERATIONS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "//": operator.floordiv, "mod": operator.mod}
COMMUTATIVE = frozenset({"+", "*"})
_SUM = re.compile(r"(\S+) \+ (\S+)")
_PAIR = re.compile(r"^(\S+) and (\S+) are ")
_TRUTH = re.compile(r"\s*\((true|false)\)\s*$", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().strip(".").lower()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def parse_step(text: str) -> tuple[str, tuple[float, ...], float] | None:
    """`a op b = c` or `sqrt a = c` as (op, operands, result); None if the text is not a step."""
    match = _STEP.match(text)
    if not match:
        return None
    if match["r"] is not None:
        values = (_number(match["r"]), _number(match["c"]))
        return None if None in values else ("sqrt", (values[0],), values[1])
    op = {"x": "*", "×": "*"}.get(match["op"], match["op"])
    values = (_number(match["a"]), _number(match["b"]), _number(match["c"]))
    return None if None in values else (op, values[:2], values[2])  # "3 + . = 5" is not a step: a format error


def step_value(op: str, operands: tuple[float, ...]) -> float | None:
    """What the step's left side evaluates to (None where undefined: division by zero, a negative root)."""
    a = operands[0]
    b = operands[1] if len(operands) > 1 else 0.0
    if op in ("/", "//", "mod") and b == 0:
        return None
    if op == "sqrt":
        return math.sqrt(a) if a >= 0 else None
    return OPERATIONS[op](a, b)


def _close(x: float | None, y: float | None) -> bool:
    return x is not None and y is not None and abs(x - y) <= 1e-6 * max(1.0, abs(y))


def _section(output: str, label: str) -> str | None:
    match = re.search(rf"^\s*{label}:\s*(.*)$", output, re.MULTILINE)
    return match.group(1) if match else None


def _output_steps(output: str, style: str) -> list[str]:
    if style == "theorem":
        body = _section(output, "Exec")
        return [] if body is None else [s for s in body.split(";") if s.strip()]
    return [line for line in output.splitlines() if parse_step(line)]


def _same_step(op: str, operands: tuple[float, ...], ref: tuple, carried: dict[float, float]) -> bool:
    """The reference's operation on the reference's operands, or on what the output computed in place of an
    earlier reference result; + and * in either order."""
    if ref[0] != op or len(ref[1]) != len(operands):
        return False
    orders = [ref[1], ref[1][::-1]] if op in COMMUTATIVE else [ref[1]]
    return any(all(_close(x, r) or _close(x, carried.get(r)) for x, r in zip(operands, order, strict=True))
               for order in orders)


def score_steps(written: list[str], reference: list[str]) -> dict:
    """Exec scores: per written step, arithmetic right as written; on plan given the previous ones (see the module
    docstring). The first failing step decides plan vs arithmetic."""
    carried: dict[float, float] = {}   # reference result -> what the output computed in its place
    arithmetic, on_plan, first = 0, 0, None
    for i, text in enumerate(written):
        step = parse_step(text)
        ref = parse_step(reference[i]) if i < len(reference) else None
        if step is None:
            first = first or "plan"
            continue
        op, operands, result = step
        right = _close(step_value(op, operands), result)
        planned = ref is not None and _same_step(op, operands, ref, carried)
        arithmetic += right
        on_plan += planned
        if first is None and not planned:
            first = "plan"
        elif first is None and not right:
            first = "arithmetic"
        if ref is not None:
            carried[ref[2]] = result
    if first is None and len(written) < len(reference):
        first = "plan"
    n = len(written)
    return {"steps": n, "exec_arithmetic": arithmetic / n if n else math.nan,
            "exec_plan": on_plan / max(n, len(reference)) if (n or reference) else math.nan, "step_error": first}


def _canonical(premise: str) -> str:
    """A premise up to order: 'x and y are ...' with x, y sorted; else and-joined clauses sorted, each with the
    operands of its sums sorted."""
    text = _norm(premise)
    pair = _PAIR.match(text)
    if pair:
        return " and ".join(sorted(pair.groups())) + " are " + text[pair.end():]
    clauses = [_SUM.sub(lambda m: " + ".join(sorted(m.groups())), clause) for clause in text.split(" and ")]
    return " and ".join(sorted(clauses))


def _premises(cond: str | None, premises: list[dict]) -> float:
    if not premises:
        return math.nan
    stated = {}
    for part in (cond or "").split(";"):
        truth = _TRUTH.search(part)
        stated[_canonical(_TRUTH.sub("", part))] = truth.group(1).lower() == "true" if truth else None
    right = sum(_canonical(p["text"]) in stated
                and (p.get("holds") is None or stated[_canonical(p["text"])] == p["holds"]) for p in premises)
    return right / len(premises)


def _bindings(mapping: str | None, bindings: list[dict]) -> float:
    """Share of reference bindings whose object the output binds, with the reference's value where it has one.
    Slot letters are not compared: symmetric slots (two legs, two sides, A and B of a gcd) may be bound in either
    order, and objects name the slot's role where it is not symmetric."""
    if not bindings:
        return math.nan
    bound: dict[str, set] = {}
    for part in (mapping or "").split(";"):
        pieces = [_norm(x) for x in part.split("=")]
        if len(pieces) >= 2:
            bound.setdefault(pieces[1], set()).add(pieces[2] if len(pieces) > 2 else None)
    right = 0
    for b in bindings:
        values = bound.get(_norm(b["object"]))
        if values is None:
            continue
        right += b.get("value") is None or any(_close(_number(v), _number(b["value"])) or v == _norm(b["value"])
                                               for v in values)
    return right / len(bindings)


def score_output(output: str, style: str, trace: list[dict], steps: list[str], correct: bool) -> dict:
    """Every part's score and the first error of one output (see the module docstring)."""
    style_steps = [s for app in trace for s in app.get("exec_steps", [])] if style == "theorem" else steps
    row = {"named_right": math.nan, "premises": math.nan, "bindings": math.nan}
    if style == "theorem":
        named = named_theorem(output)
        if named is None or not trace:
            return {**row, **score_steps([], style_steps), "first_error": "format"}
        row["named_right"] = float(same_theorem(named, trace[0]["name"]))
        row["premises"] = _premises(_section(output, "Cond"), [p for app in trace for p in app["premises"]])
        row["bindings"] = _bindings(_section(output, "Map"), [b for app in trace for b in app["bindings"]])
    written = _output_steps(output, style)
    exec_scores = score_steps(written, style_steps)
    if style == "solution" and not written and style_steps:
        return {**row, **exec_scores, "first_error": "format"}
    chain = [("naming", row["named_right"] < 1), ("premise", row["premises"] < 1), ("binding", row["bindings"] < 1)]
    first = next((name for name, failed in chain if failed), None)
    first = first or exec_scores["step_error"] or ("none" if correct else "answer")
    return {**row, **exec_scores, "first_error": first}


def score_predictions(predictions: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """One row per theorem- or solution-style prediction with its part scores and first error."""
    if predictions.empty or problems.empty or "output" not in predictions:
        return pd.DataFrame()
    frame = predictions[predictions["target"].isin(SCORED_TARGETS)]
    frame = frame.merge(problems[["problem_id", "trace", "steps"]], on="problem_id", how="inner")
    scores = [score_output(str(r.output), r.target, json.loads(r.trace), json.loads(r.steps), bool(r.correct))
              for r in frame.itertuples()]
    keep = ["model", "target", "params", "seed", "step", "final", "kind", "problem_id", "original_id", "correct"]
    return pd.concat([frame[keep].reset_index(drop=True), pd.DataFrame(scores)], axis=1)


ARM = ("target", "params")
CHECKPOINT = ("model", "target", "params", "seed")


def trace_table(scored: pd.DataFrame, surface: list[str], by: tuple[str, ...] = ARM) -> pd.DataFrame:
    """Per `by` (an arm, seeds pooled; or CHECKPOINT) and kind group: mean part scores and the share of outputs by
    first error, final checkpoints; kind groups are original, surface (the kinds analysis.accuracy.surface_kinds
    pools), each kind."""
    if scored.empty:
        return pd.DataFrame()
    frame = scored[scored["final"].astype(bool)]
    groups = [("original", frame[frame["kind"] == "original"]), ("surface", frame[frame["kind"].isin(surface)])]
    groups += [(kind, frame[frame["kind"] == kind]) for kind in sorted(set(frame["kind"]) - {"original"})]
    rows = []
    for group, part in groups:
        for keys, cell in part.groupby(list(by), sort=True):
            errors = cell["first_error"].value_counts(normalize=True)
            rows.append({**dict(zip(by, keys, strict=True)), "kind": group, "n": len(cell),
                         "accuracy": cell["correct"].mean(), "named_right": cell["named_right"].mean(),
                         "premises": cell["premises"].mean(), "bindings": cell["bindings"].mean(),
                         "exec_arithmetic": cell["exec_arithmetic"].mean(), "exec_plan": cell["exec_plan"].mean(),
                         **{f"first_{name}": float(errors.get(name, 0.0)) for name in ORDER}})
    return pd.DataFrame(rows)
