"""Readable summaries of a data folder, as plain tables (title, columns, rows) for any printer."""

from __future__ import annotations

from dataclasses import dataclass

from tsft.tasks.dataset import Dataset


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple]


def count_tables(manifest: dict) -> list[Table]:
    counts = manifest["counts"]
    splits = [(s, n, "") for s, n in counts.items() if s != "perturbed"]
    changed = manifest.get("answer_changed", {})
    skipped = manifest.get("skipped_perturbations", {})
    perturbed = [
        (f"perturbed/{k}", n, f"{changed.get(k, 0)} answers changed"
         + "".join(f"; skipped {c}: {r}" for r, c in skipped.get(k, {}).items()))
        for k, n in counts["perturbed"].items()
    ]
    tables = [Table(f"{manifest['source']} data (seed {manifest['seed']})", ("split", "problems", "notes"),
                    splits + perturbed)]
    by_theorem = manifest["by_theorem"]
    theorem_ids = sorted({t for split in by_theorem.values() for t in split})
    if theorem_ids and len(theorem_ids) <= 40:
        shown = [s for s in ("train", "test") if s in by_theorem]
        tables.append(Table("problems per theorem", ("theorem", *shown),
                            [(t, *(by_theorem[s].get(t, 0) for s in shown)) for t in theorem_ids]))
    elif theorem_ids:
        tables.append(Table("theorems", ("distinct theorems", "problems citing one"),
                            [(len(theorem_ids), sum(by_theorem.get("test", {}).values()))]))
    if manifest.get("skipped_rows"):
        tables.append(Table("skipped rows", ("file", "where", "field", "reason"),
                            [(r["file"], r.get("line", r.get("item")), r["field"], r["reason"])
                             for r in manifest["skipped_rows"][:20]]))
    return tables


def _clip(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sample_table(dataset: Dataset, n: int = 5) -> Table:
    rows = []
    for problem in dataset.test[:n]:
        theorem = ", ".join(dict.fromkeys(problem.theorem_ids)) or "-"
        rows.append((problem.id, theorem, _clip(problem.text), problem.answer))
    for kind, perturbations in dataset.perturbed.items():
        if perturbations:
            p = perturbations[0]
            rows.append((p.problem.id, kind, _clip(p.problem.text), p.problem.answer))
    return Table("sample (test originals, then one per perturbation kind)", ("id", "theorem / kind", "text",
                                                                               "answer"), rows)
