"""Gather the other rooms' saved results under one folder into tidy tables (never touching a model).

Every room writes a results folder with a `request.json` saying what it is (`kind`: eval, sweep,
cross, trace, transplant, probes, causal, weights) and its tables; training writes run folders
with a `run_card.json`. `collect(folder)` walks the tree once and returns a `Results`: one
DataFrame per kind of result, concatenated over the folders found, with the checkpoint's
training facts (target style, parameter selection, seed, budget) joined from the run cards.

Intermediate checkpoints (`checkpoints/step-N/`) are not models of their own: an evaluation of one
keeps the run's name, with `step` and `final=False`, which is how the matched-accuracy comparison
finds it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

RUN_NAME = re.compile(r"^(?P<target>answer|solution|theorem)-(?P<params>.+)-s(?P<seed>\d+)$")
MODEL_COLUMNS = ["model", "kind", "target", "params", "seed", "lr", "steps", "trainable", "total", "tokens_seen",
                 "target_tokens_seen", "train_seconds", "folder"]


@dataclass
class Results:
    """Tables gathered from a results folder; an absent kind of result is an empty DataFrame."""

    folder: Path
    models: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MODEL_COLUMNS))
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    patch_pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    cross_pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    transplant: pd.DataFrame = field(default_factory=pd.DataFrame)
    probes: pd.DataFrame = field(default_factory=pd.DataFrame)
    causal: pd.DataFrame = field(default_factory=pd.DataFrame)
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    templates: pd.DataFrame = field(default_factory=pd.DataFrame)
    requests: list[dict] = field(default_factory=list)


def model_facts(card: dict, folder: Path | str) -> dict:
    """One models-table row from a run card (or from a run name like theorem-mlp-s1 when the card is thin)."""
    config = card.get("config", {})
    name = card.get("name") or Path(folder).name
    parsed = RUN_NAME.match(name)
    guess = parsed.groupdict() if parsed else {}
    metrics = card.get("metrics", {})
    return {"model": name, "kind": card.get("kind") or ("sft" if parsed else "base"),
            "target": config.get("target", guess.get("target")), "params": config.get("params", guess.get("params")),
            "seed": int(config.get("seed", guess.get("seed", 0))), "lr": config.get("lr"),
            "steps": config.get("steps"), "trainable": card.get("parameters", {}).get("trainable"),
            "total": card.get("parameters", {}).get("total"), "tokens_seen": metrics.get("tokens_seen"),
            "target_tokens_seen": metrics.get("target_tokens_seen"), "train_seconds": metrics.get("train_seconds"),
            "folder": str(folder)}


def _curve(card: dict) -> list[dict]:
    return [{"model": card.get("name"), **entry} for entry in card.get("metrics", {}).get("evals", [])]


def _read_request(folder: Path) -> dict:
    try:
        return json.loads((folder / "request.json").read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder / 'request.json'}: cannot read ({err})") from err


def _eval_frame(folder: Path, request: dict) -> pd.DataFrame:
    frame = pd.read_parquet(folder / "predictions.parquet")
    frame["step"] = request.get("step")
    frame["final"] = Path(request.get("model", "")).parent.name != "checkpoints"
    return frame


def _templates(data_dirs: set[str]) -> pd.DataFrame:
    """problem_id -> template of the originals (F8's instance groups), from each data folder used."""
    from tasks.dataset import load_dataset
    from tasks.io import DataError

    rows = []
    for data in sorted(data_dirs):
        try:
            dataset = load_dataset(data)
        except (DataError, OSError):
            continue
        rows += [{"problem_id": p.id, "template": p.surface.get("template")} for p in dataset.test
                 if p.surface and p.surface.get("template")]
    return pd.DataFrame(rows, columns=["problem_id", "template"]).drop_duplicates("problem_id")


def _find(root: Path, name: str) -> list[Path]:
    """Every file called `name` under `root`, following symlinked folders (results are often linked in)."""
    return sorted(Path(folder) / name for folder, _, files in os.walk(root, followlinks=True) if name in files)


def _result_folders(root: Path):
    """(folder, request) of every result; an evaluation saved before evaluations wrote a request is read as the
    final checkpoint's."""
    for request in _find(root, "request.json"):
        yield request.parent, _read_request(request.parent)
    for predictions in _find(root, "predictions.parquet"):
        if not (predictions.parent / "request.json").is_file():
            yield predictions.parent, {"kind": "eval"}


def _cards(root: Path):
    for card_path in _find(root, "run_card.json"):
        if "checkpoints" in card_path.parts[len(root.parts):]:
            continue
        card = json.loads(card_path.read_text())
        if card.get("status") == "complete":
            yield card_path.parent, card


READERS = {
    "sweep": ("patch_pairs", "pairs.parquet"), "cross": ("cross_pairs", "pairs.parquet"),
    "transplant": ("transplant", "transplant.parquet"), "probes": ("probes", "probes.parquet"),
    "causal": ("causal", "causal.parquet"), "weights": ("weights", "weights.parquet"),
}


def collect(folder: str | Path) -> Results:
    """Every result under `folder`, as tables (see the module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such results folder")
    models, curves, parts = {}, [], {name: [] for name, _ in READERS.values()}
    evals, data_dirs, requests = [], set(), []
    for run, card in _cards(root):
        facts = model_facts(card, run)
        models[facts["model"]] = facts
        curves += _curve(card)
    for result, request in _result_folders(root):
        kind = request.get("kind")
        requests.append({"folder": str(result), **request})
        if kind == "eval" and (result / "predictions.parquet").is_file():
            evals.append(_eval_frame(result, request))
            data_dirs.add(request.get("data", ""))
            name = request.get("name") or evals[-1]["model"].iloc[0]
            models.setdefault(name, model_facts({"name": name, "config": request.get("config", {}),
                                                 "kind": request.get("model_kind")}, request.get("model", "")))
        elif kind in READERS and (result / READERS[kind][1]).is_file():
            frame = pd.read_parquet(result / READERS[kind][1])
            parts[READERS[kind][0]].append(frame.assign(pair_type=request.get("pair_type"))
                                           if kind == "sweep" and "pair_type" not in frame else frame)
    tables = {name: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
              for name, frames in parts.items()}
    models = pd.DataFrame(list(models.values()), columns=MODEL_COLUMNS)
    return Results(folder=root, models=models, curves=pd.DataFrame(curves), predictions=_with_steps(evals, models),
                   templates=_templates(data_dirs), requests=requests, **tables)


def _with_steps(evals: list[pd.DataFrame], models: pd.DataFrame) -> pd.DataFrame:
    """Predictions with an integer `step`: a final evaluation that did not record it takes its run's step count."""
    if not evals:
        return pd.DataFrame()
    frame = pd.concat(evals, ignore_index=True)
    steps = frame["model"].map(models.set_index("model")["steps"])
    frame["step"] = pd.to_numeric(frame["step"], errors="coerce").fillna(pd.to_numeric(steps, errors="coerce"))
    frame["step"] = frame["step"].fillna(-1).astype(int)
    return frame
