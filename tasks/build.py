"""Build a data folder: the on-disk contract between tasks/ and every other room.

A data folder holds

    train.jsonl              synthetic and diagram worlds: training problems
    val.jsonl                synthetic world with --n-val: validation problems (training templates, unseen texts)
    images/<id>.png          diagram world and GeoQA: one figure per problem (Problem.image)
    test.jsonl               original test problems
    perturbed/<kind>.jsonl   one row per perturbed problem, linked by `original_id`
    theorems.json            the theorem catalogue (synthetic), definitions (TheoremQA) or concepts (CHAMP)
    manifest.json            counts per split, kind and theorem; skipped rows and skipped
                             perturbations with reasons; texts repeated within a split (a small
                             world asked for many problems); sha256 of every file; seed, settings;
                             `eval_only` (source, benchmark) for a benchmark's problems and `canary`
                             for tsft's own worlds (tasks.guards)

The folder is written to a temporary sibling and renamed into place when complete. Nothing in it
depends on the clock or the machine, so the same seed and settings give the same bytes.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tsft.tasks.diagram import world as diagram_world
from tsft.tasks.guards import canary, eval_only_header
from tsft.tasks.io import atomic_dir, check_writable, sha256_file, write_json, write_jsonl
from tsft.tasks.real_perturb import perturb_real_all
from tsft.tasks.schema import Perturbation, Problem
from tsft.tasks.world.catalogue import catalogue_rows
from tsft.tasks.world.generate import WorldConfig, generate_splits
from tsft.tasks.world.perturb import KINDS as SYNTHETIC_KINDS
from tsft.tasks.world.perturb import perturb_all

FORMAT = "tsft-data/1"
CANARY_SOURCES = frozenset({"synthetic", "diagram"})
"""Folders whose problems tsft wrote: their manifest carries a canary string (tasks.guards)."""


def _theorem_counts(problems: Iterable[Problem]) -> dict[str, int]:
    counts = Counter(t for p in problems for t in dict.fromkeys(p.theorem_ids))
    return dict(sorted(counts.items()))


def write_dataset(out: str | Path, *, test: list[Problem], perturbed: dict[str, list[Perturbation]],
                  theorems: list[dict], header: dict, train: list[Problem] | None = None,
                  val: list[Problem] | None = None,
                  skipped_rows: list[dict] | None = None,
                  skipped_perturbations: dict[str, dict[str, int]] | None = None,
                  overwrite: bool = False, write_extra=None) -> dict:
    """Write the folder atomically and return its manifest (`write_extra(tmp)` adds files, e.g. figures)."""
    splits = {"test": test} if train is None else {"train": train, "test": test}
    if val:
        splits["val"] = val
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for split, problems in splits.items():
            write_jsonl(tmp / f"{split}.jsonl", (p.to_dict() for p in problems))
        (tmp / "perturbed").mkdir()
        for kind, rows in sorted(perturbed.items()):
            write_jsonl(tmp / "perturbed" / f"{kind}.jsonl", (r.to_dict() for r in rows))
        write_json(tmp / "theorems.json", theorems)
        if write_extra is not None:
            write_extra(tmp)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT,
            **header,
            **({"canary": canary(p.text for p in test)} if header["source"] in CANARY_SOURCES else {}),
            "counts": {**{s: len(p) for s, p in splits.items()},
                       "perturbed": {k: len(v) for k, v in sorted(perturbed.items())}},
            "by_theorem": {**{s: _theorem_counts(p) for s, p in splits.items()},
                           **{f"perturbed/{k}": _theorem_counts(r.problem for r in v)
                              for k, v in sorted(perturbed.items())}},
            "answer_changed": {k: sum(r.answer_changed for r in v) for k, v in sorted(perturbed.items())},
            "repeated_texts": {s: sum(bool(p.meta.get("repeat")) for p in ps) for s, ps in splits.items()},
            "skipped_rows": skipped_rows or [],
            "skipped_perturbations": {k: v for k, v in sorted((skipped_perturbations or {}).items()) if v},
            "sha256": {name: sha256_file(tmp / name) for name in files},
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def build_synthetic(config: WorldConfig, out: str | Path, overwrite: bool = False) -> dict:
    """Generate the synthetic world's splits and perturbations into `out`."""
    splits = generate_splits(config)
    kinds = [k for k in SYNTHETIC_KINDS if k != "cue_conflict" or config.cue_strength > 0]
    perturbed, skipped = perturb_all(splits["test"], kinds, seed=config.seed)
    config_row = dataclasses.asdict(config)
    config_row["theorems"] = list(config.theorems)
    header = {"source": "synthetic", "seed": config.seed, "config": config_row}
    return write_dataset(out, train=splits["train"], test=splits["test"], val=splits.get("val"), perturbed=perturbed,
                         theorems=catalogue_rows(), header=header, skipped_perturbations=skipped, overwrite=overwrite)


def build_diagram(config, out: str | Path, overwrite: bool = False) -> dict:
    """The diagram world's splits, perturbations and one PNG figure per problem (`images/`)."""
    train, test = diagram_world.generate_splits(config)
    perturbed, skipped = diagram_world.perturb_all(test, list(diagram_world.KINDS), seed=config.seed)
    config_row = {**dataclasses.asdict(config), "theorems": list(config.theorems)}
    problems = [*train, *test, *(r.problem for rows in perturbed.values() for r in rows)]
    return write_dataset(out, train=train, test=test, perturbed=perturbed, theorems=diagram_world.catalogue_rows(),
                         header={"source": "diagram", "seed": config.seed, "config": config_row},
                         skipped_perturbations=skipped, overwrite=overwrite,
                         write_extra=lambda tmp: diagram_world.write_figures(problems, tmp))


def build_real(source: str, path: str | Path | None, out: str | Path, *, skip_invalid: bool = False,
               seed: int = 0, overwrite: bool = False, eval_only: str | None = None, **options) -> dict:
    """Load a real dataset and add its answer-invariant real-text perturbations to its test split.

    Rows whose meta says split=train (the JSONL source's `split` field) become the train split,
    which `tsft train sft` needs; every other row is a test problem. A benchmark source, or `eval_only`
    (the benchmark's name), marks the folder eval-only (tasks.guards)."""
    from tsft.tasks.loaders import load  # the loaders bring math-verify and sympy: only real sources pay for them
    result = load(source, path, skip_invalid=skip_invalid, **options)
    if not result.problems:
        skipped = len(result.skipped)
        raise ValueError(f"{path}: no problems to write ({skipped} rows skipped as invalid)" if skipped else
                         f"{path}: no problems to write (the file has no rows)")
    # rows marked split=train (a JSONL of annotated training problems) form the train split
    train = [p for p in result.problems if p.meta.get("split") == "train"] or None
    test = [p for p in result.problems if p.meta.get("split") != "train"]
    if result.perturbations:  # sources that come with their own perturbations (pairs, gsm-symbolic)
        perturbed: dict[str, list[Perturbation]] = {}
        for row in result.perturbations:
            perturbed.setdefault(row.kind, []).append(row)
        skipped: dict[str, dict[str, int]] = {}
    else:
        perturbed, skipped = perturb_real_all(test, seed)
    header = {"source": source, "seed": seed,
              "config": {"path": str(path) if path else None, "skip_invalid": skip_invalid,
                         **{k: str(v) for k, v in options.items() if v is not None}},
              **eval_only_header(source, train is not None, eval_only)}
    train, test, perturbed, copy_figures = _local_figures(train, test, perturbed)
    return write_dataset(out, train=train, test=test, perturbed=perturbed, theorems=result.theorems,
                         header=header, skipped_rows=result.skipped, skipped_perturbations=skipped,
                         overwrite=overwrite, write_extra=copy_figures)


def _local_figures(train, test, perturbed):
    """Point every problem's figure into the folder's images/ and a writer that copies them there."""
    import shutil

    sources: dict[str, str] = {}  # source file -> name in the folder

    def local(problem: Problem) -> Problem:
        if problem.image is None:
            return problem
        suffix = Path(problem.image).suffix.lower() or ".png"
        name = sources.setdefault(problem.image, f"images/{len(sources):06d}{suffix}")
        return dataclasses.replace(problem, image=name)

    train = None if train is None else [local(p) for p in train]
    test = [local(p) for p in test]
    perturbed = {k: [dataclasses.replace(r, problem=local(r.problem)) for r in rows] for k, rows in perturbed.items()}

    def copy(tmp: Path) -> None:
        for source, name in sources.items():
            (tmp / name).parent.mkdir(exist_ok=True)
            shutil.copyfile(source, tmp / name)

    return train, test, perturbed, (copy if sources else None)


def build(source: str, out: str | Path, *, path: str | Path | None = None, seed: int = 0,
          n_train: int | None = None, n_test: int | None = None, n_val: int | None = None,
          cue_strength: float | None = None, skip_invalid: bool = False, field_map: str | None = None,
          theorems_path: str | Path | None = None, eval_only: str | None = None, overwrite: bool = False) -> dict:
    """`tsft data build`: one entry point for every source; options that do not apply are errors."""
    check_writable(out)  # before any problem is generated or read
    synthetic_options = {"n_train": n_train, "n_test": n_test, "cue_strength": cue_strength}
    if source not in ("synthetic", "diagram"):
        from tsft.tasks.loaders import LOADERS  # lazily, as in build_real

        if source not in LOADERS:
            raise ValueError(f"unknown source {source!r}; known: synthetic, diagram, {', '.join(LOADERS)}")
    if n_test is not None and n_test < 1:
        raise ValueError(f"--n-test {n_test}: a data folder needs at least one test problem")
    if n_train is not None and n_train < 0:
        raise ValueError(f"--n-train {n_train}: use 0 or more")
    if n_val is not None and n_val < 0:
        raise ValueError(f"--n-val {n_val}: use 0 or more")
    if source == "diagram":
        _refuse({"path": path, "field_map": field_map, "theorems_path": theorems_path, "cue_strength": cue_strength,
                 "n_val": n_val, "skip_invalid": skip_invalid or None, "eval_only": eval_only},
                "other sources, not --source diagram")
        given = {k: v for k, v in synthetic_options.items() if v is not None}
        return build_diagram(diagram_world.DiagramConfig(seed=seed, **given), out, overwrite=overwrite)
    if source == "synthetic":
        _refuse({"path": path, "field_map": field_map, "theorems_path": theorems_path,
                 "skip_invalid": skip_invalid or None, "eval_only": eval_only},
                "real sources only, not --source synthetic")
        given = {k: v for k, v in {**synthetic_options, "n_val": n_val}.items() if v is not None}
        return build_synthetic(WorldConfig(seed=seed, **given), out, overwrite=overwrite)
    _refuse({**synthetic_options, "n_val": n_val}, f"--source synthetic only, not {source}")
    if field_map is not None and source != "jsonl":
        raise ValueError("--field-map applies to --source jsonl only")
    if theorems_path is not None and source != "theoremqa":
        raise ValueError("--theorems-path applies to --source theoremqa only")
    return build_real(source, path, out, skip_invalid=skip_invalid, seed=seed, overwrite=overwrite,
                      eval_only=eval_only, field_map=field_map, theorems_path=theorems_path)


def _refuse(options: dict[str, object], scope: str) -> None:
    """Raise naming every option that was given (not None) where it does not apply."""
    given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
    if given:
        raise ValueError(f"options for {scope}: {', '.join(given)}")
