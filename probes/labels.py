"""What a probe predicts, what it must not see twice, and its control task.

Every row of an activation dataset carries a few fields read from its problem (`FIELDS`): the
first theorem's id, the answer, the template id, the number set, the entity name, the planted
cue, the domain, the subject, the first word, and a diagram problem's figure-only value. From them:

* **Labels** (`LABELS`): `theorem`, `answer_bucket` (numeric answers cut at the originals'
  quartiles; non-numeric answers are `other`), `template`, `cue` (the planted cue name or
  `none`), `domain`, `subject`, `figure_value` (the value written only on a diagram's figure: can a
  probe read it at the image tokens, the text, the last position?). A row whose label is unknown
  (a MATH problem has no theorem) is left out of that label's probe.
* **Group keys** (`GROUP_KEYS`): the fields that must never straddle train and test. By default a
  label is grouped by template and number set (`probes.splits` holds templates out and purges
  shared number sets); the `template` label itself is grouped by number set only, since holding
  its templates out would leave nothing to learn, and `figure_value` by template only (its number
  set contains the label). A missing key makes each row its own group.
* **Control task** (Hewitt & Liang 2019): each *surface type* (by default the entity name, else
  the first word of the problem) gets a label drawn at random from the real label's distribution,
  fixed per type. A probe that scores well on the control memorizes surface types; the real
  probe's selectivity = accuracy - control accuracy.
"""

from __future__ import annotations

import json
import re

from tsft.tasks.schema import Problem

FIELDS = ("theorem", "answer", "template", "numbers", "name", "cue", "domain", "subject", "first_word",
          "figure_value")
LABELS = ("theorem", "answer_bucket", "template", "cue", "domain", "subject", "figure_value")
GROUP_KEYS = ("template", "numbers")
DEFAULT_GROUPS = {"template": ("numbers",), "figure_value": ("template",)}
CONTROL_TYPES = ("name", "first_word", "template", "numbers")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class LabelError(ValueError):
    """A label, group key or control that the data cannot support; the message says why."""


def problem_fields(problem: Problem) -> dict[str, str | None]:
    """The fields of one problem that labels, groups and controls are made from (None = unknown)."""
    surface, meta = problem.surface, problem.meta
    values = surface.get("values")
    words = problem.text.split()
    return {
        "theorem": problem.theorem_ids[0] if problem.theorems else None,
        "answer": problem.answer,
        "template": surface.get("template"),
        "numbers": json.dumps(values, sort_keys=True) if values else None,
        "name": surface.get("name"),
        "cue": (surface.get("cue") or "none") if "cue" in surface else None,
        "domain": meta.get("domain"),
        "subject": meta.get("subject"),
        "first_word": words[0].lower() if words else None,
        "figure_value": None if meta.get("figure_value") is None else str(meta["figure_value"]),
    }


def answer_edges(answers, buckets: int = 4) -> list[float]:
    """Quartile cut points (by default) of the numeric answers."""
    import numpy as np

    numbers = [float(a) for a in answers if isinstance(a, str) and _NUMBER.match(a.strip())]
    if not numbers:
        return []
    return sorted(set(np.quantile(numbers, [i / buckets for i in range(1, buckets)]).tolist()))


def answer_bucket(answer: str | None, edges: list[float]) -> str | None:
    if answer is None:
        return None
    if not _NUMBER.match(answer.strip()):
        return "other"
    value = float(answer)
    return f"q{sum(value > edge for edge in edges)}"


def label_column(frame, label: str):
    """The label of every row of a metadata frame (None where unknown); answer buckets cut at the originals'."""
    if label not in LABELS:
        raise LabelError(f"unknown label {label!r}; known: {', '.join(LABELS)}")
    if label == "answer_bucket":
        cuts = answer_edges(frame.loc[frame["kind"] == "original", "answer"].tolist())
        return frame["answer"].map(lambda a: answer_bucket(a, cuts))
    return frame[label]


def groups_for(label: str, override: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The group keys of a label: `override`, else its default (template and number set)."""
    keys = override if override is not None else DEFAULT_GROUPS.get(label, GROUP_KEYS)
    unknown = [k for k in keys if k not in FIELDS]
    if unknown:
        raise LabelError(f"unknown group key(s) {unknown}; choose from {', '.join(FIELDS)}")
    if label in keys:
        raise LabelError(f"label {label!r} cannot be its own group key: held-out groups would carry classes "
                         "never seen in training")
    return keys


def control_type(frame, preferred: str | None = None) -> str:
    """The surface type of the control task: `preferred`, else the entity name when every row has one, else
    the first word."""
    if preferred is not None:
        if preferred not in CONTROL_TYPES:
            raise LabelError(f"unknown control type {preferred!r}; choose from {', '.join(CONTROL_TYPES)}")
        return preferred
    return "name" if frame["name"].notna().all() else "first_word"


def control_labels(types, labels, seed: int = 0):
    """Hewitt & Liang control: one label per surface type, drawn from the labels' distribution (seeded)."""
    import numpy as np
    import pandas as pd

    labels = pd.Series(labels).reset_index(drop=True)
    types = pd.Series(types).reset_index(drop=True).fillna("<none>").astype(str)
    classes, counts = np.unique(labels.astype(str), return_counts=True)
    rng = np.random.default_rng(seed)
    distinct = sorted(types.unique())
    drawn = dict(zip(distinct, rng.choice(classes, size=len(distinct), p=counts / counts.sum()), strict=True))
    return types.map(drawn).to_numpy()
