"""Read a data folder written by `tsft data build` (see tasks.build for its layout).

`load_dataset(folder)` checks the manifest's format and every file's sha256 (diagram images
included), then parses rows into the schema; a bad row is reported with file, line and field.
A problem's `image` is stored relative to the folder and comes back as an absolute path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from tsft.tasks.build import FORMAT
from tsft.tasks.io import DataError, read_json, read_jsonl, sha256_file
from tsft.tasks.schema import Perturbation, Problem, SchemaError


@dataclass
class Dataset:
    folder: Path
    manifest: dict
    theorems: list[dict]
    test: list[Problem]
    train: list[Problem] = field(default_factory=list)
    val: list[Problem] = field(default_factory=list)
    perturbed: dict[str, list[Perturbation]] = field(default_factory=dict)

    def split(self, name: str) -> list[Problem]:
        """'train', 'val', 'test', or 'perturbed/<kind>' (the perturbed problems of that kind)."""
        if name == "val":
            if "val" not in self.manifest["counts"]:
                raise DataError(self.folder, None, "this data folder has no validation split (build it with "
                                "--n-val)")
            return self.val
        if name == "train":
            if "train" not in self.manifest["counts"]:
                raise DataError(self.folder, None, "this data folder has no train split (real sources are "
                                "test-only unless a JSONL source marks rows split=train)")
            return self.train
        if name == "test":
            return self.test
        kind = name.removeprefix("perturbed/")
        if kind not in self.perturbed:
            raise DataError(self.folder, None, f"no split {name!r}; have: train, test, "
                            + ", ".join(f"perturbed/{k}" for k in self.perturbed))
        return [p.problem for p in self.perturbed[kind]]


def _with_image_path(item, folder: Path):
    """A problem (or perturbation) whose relative `image` is resolved against the data folder."""
    problem = item.problem if isinstance(item, Perturbation) else item
    if problem.image is None or Path(problem.image).is_absolute():
        return item
    problem = dataclasses.replace(problem, image=str((folder / problem.image).resolve()))
    return dataclasses.replace(item, problem=problem) if isinstance(item, Perturbation) else problem


def _rows(path: Path, parse, folder: Path) -> list:
    rows = []
    for line, row in read_jsonl(path):
        try:
            rows.append(_with_image_path(parse(row), folder))
        except SchemaError as err:
            raise DataError(path, line, str(err).split(": ", 1)[1], err.field) from err
        except AttributeError as err:
            raise DataError(path, line, "expected a JSON object") from err
    return rows


def load_dataset(folder: str | Path, verify: bool = True) -> Dataset:
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(manifest_path, None, "not a tsft data folder (no manifest.json); build one with "
                                             "`tsft data build`")
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(manifest_path, None, f"unknown format {manifest.get('format')!r}, expected {FORMAT}",
                        "format")
    if verify:
        for name, digest in manifest["sha256"].items():
            if not (folder / name).is_file():
                raise DataError(folder / name, None, "listed in manifest.json but missing")
            if sha256_file(folder / name) != digest:
                raise DataError(folder / name, None, "content differs from manifest.json (edited or truncated)")
    theorems = read_json(folder / "theorems.json")
    dataset = Dataset(folder=folder, manifest=manifest, theorems=theorems,
                      test=_rows(folder / "test.jsonl", Problem.from_dict, folder))
    for split in ("train", "val"):
        if split in manifest["counts"]:
            setattr(dataset, split, _rows(folder / f"{split}.jsonl", Problem.from_dict, folder))
    for kind in manifest["counts"]["perturbed"]:
        dataset.perturbed[kind] = _rows(folder / "perturbed" / f"{kind}.jsonl", Perturbation.from_dict, folder)
    return dataset
