"""The data model every room shares: problems, theorem applications, perturbations.

A `Problem` is one math question with its reference answer and, where known, the theorem
applications its solution uses. A theorem application is the paper's trace of one rule use:

* Cond - the rule's premises, each checked against the problem (`Premise.holds`);
* Map  - the statement's slots bound to the problem's objects and values (`Binding`);
* Exec - the rule applied in small steps, one operation each (`exec_steps`), ending in the
  `conclusion`.

Real data fills what it has (TheoremQA names one theorem, CHAMP cites concepts per step, MATH and
GSM8K have none); synthetic problems fill everything. `image` is the diagram of a multimodal
problem (GeoQA, the diagram world): a path relative to the data folder on disk, made absolute by
`tasks.dataset.load_dataset`; text-only problems have none and write no `image` key. `surface`
holds the attributes a surface perturbation may change (template, names, letters, numbers, order
of givens, distractors) and `meta` the rest (split, subject, level, answer type...).

A `Perturbation` links an original problem to its perturbed version, says which kind of change
was made and whether the reference answer changed.

Every `from_dict` checks types and raises `SchemaError` naming the offending field, so a loader
can report file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class SchemaError(ValueError):
    """A row does not match the schema; `field` names the offending key (dotted path)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"field '{field_name}': {message}")
        self.field = field_name


def require(row: dict, key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    path = f"{where}{key}"
    if not isinstance(row, dict):
        raise SchemaError(where.rstrip(".") or "<row>", f"expected an object, got {type(row).__name__}")
    if key not in row:
        raise SchemaError(path, "missing")
    value = row[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SchemaError(path, f"expected {names}, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Premise:
    """One premise of a theorem, bound to the problem; `holds` is None when not checked."""

    text: str
    holds: bool | None = None


@dataclass(frozen=True)
class Binding:
    """A statement slot bound to a problem object and, when given, its value (None = unknown)."""

    slot: str
    object: str
    value: int | float | str | None = None


@dataclass(frozen=True)
class TheoremApplication:
    """One use of a theorem in a solution (Cond = premises, Map = bindings, Exec = exec_steps)."""

    theorem_id: str
    name: str
    statement: str
    premises: tuple[Premise, ...] = ()
    bindings: tuple[Binding, ...] = ()
    exec_steps: tuple[str, ...] = ()
    conclusion: str = ""
    step_index: int | None = None
    """Index into `Problem.steps` of the step that cites this theorem (CHAMP), if known."""

    def to_dict(self) -> dict:
        return {
            "theorem_id": self.theorem_id,
            "name": self.name,
            "statement": self.statement,
            "premises": [{"text": p.text, "holds": p.holds} for p in self.premises],
            "bindings": [{"slot": b.slot, "object": b.object, "value": b.value} for b in self.bindings],
            "exec_steps": list(self.exec_steps),
            "conclusion": self.conclusion,
            "step_index": self.step_index,
        }

    @classmethod
    def from_dict(cls, row: dict, where: str = "") -> TheoremApplication:
        theorem_id = require(row, "theorem_id", str, where)
        name = require(row, "name", str, where)
        statement = require(row, "statement", str, where)
        premises = tuple(
            Premise(
                require(p, "text", str, f"{where}premises[{i}]."),
                p.get("holds") if isinstance(p, dict) else None,
            )
            for i, p in enumerate(require(row, "premises", list, where))
        )
        bindings = tuple(
            Binding(
                require(b, "slot", str, f"{where}bindings[{i}]."),
                require(b, "object", str, f"{where}bindings[{i}]."),
                b.get("value"),
            )
            for i, b in enumerate(require(row, "bindings", list, where))
        )
        steps = require(row, "exec_steps", list, where)
        step_index = row.get("step_index")
        if step_index is not None and (not isinstance(step_index, int) or isinstance(step_index, bool)):
            raise SchemaError(f"{where}step_index", f"expected int or null, got {type(step_index).__name__}")
        return cls(
            theorem_id=theorem_id,
            name=name,
            statement=statement,
            premises=premises,
            bindings=bindings,
            exec_steps=tuple(str(s) for s in steps),
            conclusion=require(row, "conclusion", str, where),
            step_index=step_index,
        )


@dataclass(frozen=True)
class Problem:
    """A math problem in the shared schema (see the module docstring)."""

    id: str
    source: str
    text: str
    answer: str
    theorems: tuple[TheoremApplication, ...] = ()
    steps: tuple[str, ...] = ()
    surface: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    image: str | None = None

    def __hash__(self) -> int:  # the dict fields are not hashable; equal problems share id and text
        return hash((self.id, self.text))

    @property
    def theorem_ids(self) -> tuple[str, ...]:
        return tuple(t.theorem_id for t in self.theorems)

    def to_dict(self) -> dict:
        row = {
            "id": self.id,
            "source": self.source,
            "text": self.text,
            "answer": self.answer,
            "theorems": [t.to_dict() for t in self.theorems],
            "steps": list(self.steps),
            "surface": self.surface,
            "meta": self.meta,
        }
        if self.image is not None:
            row["image"] = self.image
        return row

    @classmethod
    def from_dict(cls, row: dict) -> Problem:
        problem_id, source = require(row, "id", str), require(row, "source", str)
        text, answer = require(row, "text", str), require(row, "answer", str)
        theorems = tuple(
            TheoremApplication.from_dict(t, f"theorems[{i}].")
            for i, t in enumerate(require(row, "theorems", list))
        )
        return cls(
            id=problem_id,
            source=source,
            text=text,
            answer=answer,
            theorems=theorems,
            steps=tuple(str(s) for s in require(row, "steps", list)),
            surface=dict(require(row, "surface", dict)),
            meta=dict(require(row, "meta", dict)),
            image=require(row, "image", str) if row.get("image") is not None else None,
        )


@dataclass(frozen=True)
class Perturbation:
    """An original problem's perturbed version: `kind` of change, and whether the answer changed."""

    original_id: str
    kind: str
    problem: Problem
    answer_changed: bool

    def to_dict(self) -> dict:
        """A flat row: the perturbed problem plus `original_id`, `kind`, `answer_changed`."""
        return {
            **self.problem.to_dict(),
            "original_id": self.original_id,
            "kind": self.kind,
            "answer_changed": self.answer_changed,
        }

    @classmethod
    def from_dict(cls, row: dict) -> Perturbation:
        problem_row = {k: v for k, v in row.items() if k not in ("original_id", "kind", "answer_changed")}
        return cls(
            original_id=require(row, "original_id", str),
            kind=require(row, "kind", str),
            problem=Problem.from_dict(problem_row),
            answer_changed=require(row, "answer_changed", bool),
        )
