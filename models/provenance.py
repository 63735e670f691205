"""What every results folder says about how it was made: `request.json`, one writer for every room.

A results folder (an evaluation, a patching sweep, probes, weights, transplant, group patching) holds its tables
and `request.json`: what was asked (`kind`, the model and data folders, the settings) plus provenance (torch and
transformers versions, the git commit of the code, the seconds it took). analysis.collect reads `kind` to know
what the folder is; a reader reads the rest to know how to make it again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import transformers
from tsft.models.cards import git_commit
from tsft.tasks.io import atomic_dir, atomic_file, write_json


def provenance(start: float | None = None, **versions: str) -> dict:
    """Library versions (torch, transformers, and any given), git commit, and seconds since `start`."""
    facts = {"torch": torch.__version__, "transformers": transformers.__version__, **versions,
             "git_commit": git_commit()}
    if start is not None:
        facts["seconds"] = round(time.perf_counter() - start, 2)
    return facts


def write_request(folder: str | Path, request: dict, start: float | None = None, **versions: str) -> Path:
    """Write `folder`/request.json (the request, then its provenance) atomically."""
    path = Path(folder) / "request.json"
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps({**request, **provenance(start, **versions)}, indent=2, default=str) + "\n")
    return path


def save_tables(out: str | Path, tables: dict, request: dict, overwrite: bool = False,
                start: float | None = None) -> Path:
    """Write `tables` ({file name: a DataFrame (.parquet or .csv), a dict of tensors (.safetensors) or a
    JSON-able value (.json)}) and request.json (`write_request`) into a new folder `out` in one atomic step (the
    folders of evaluation and patching; probes and lenses add files to a folder that keeps other things)."""
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name, table in tables.items():
            if name.endswith(".csv"):
                table.to_csv(tmp / name, index=False)
            elif name.endswith(".json"):
                write_json(tmp / name, table)
            elif name.endswith(".safetensors"):
                from safetensors.torch import save_file

                save_file(table, str(tmp / name))
            else:
                table.to_parquet(tmp / name, index=False)
        write_request(tmp, request, start)
    return Path(out)
