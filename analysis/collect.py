"""Gather the other rooms' saved results under one folder into tidy tables (never touching a model).

Every room writes a results folder with a `request.json` saying what it is (`kind`: eval, sweep,
cross, trace, transplant, probes, causal, weights, spectral, restore, groups, lens, das, deltas) and its tables;
training writes run folders with a `run_card.json`. `collect(folder)` walks the tree once and returns a `Results`: one
DataFrame per kind of result, concatenated over the folders found, with the checkpoint's
training facts (target style, parameter selection, seed, budget) joined from the run cards.

Intermediate checkpoints (`checkpoints/step-N/`) are not models of their own: an evaluation of one
keeps the run's name, with `step` and `final=False`, which is how the matched-accuracy comparison
finds it. The predictions a run graded while it trained (`RUN/curve/step-N.parquet`) are read the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tsft.analysis.problems import original_templates, problem_facts
from tsft.models.cards import parse_run_name
from tsft.tasks.io import read_json

MODEL_COLUMNS = ["model", "kind", "target", "params", "seed", "variant", "lr", "steps", "published_step", "stopped",
                 "trainable", "total", "tokens_seen", "target_tokens_seen", "train_seconds", "eval_size", "folder"]
"""`variant` names a run that is none of its arm's seeds (lr-trial, memorize, tokens: `tsft train sft`'s
variant); analyses of the arms leave such runs out (analysis.accuracy.arm_runs)."""


@dataclass
class Results:
    """Tables gathered from a results folder; an absent kind of result is an empty DataFrame."""

    folder: Path
    models: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MODEL_COLUMNS))
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    """A final checkpoint's graded answers on its first training problems (`tsft eval --train`), kept apart."""
    patch_pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    cross_pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    transplant: pd.DataFrame = field(default_factory=pd.DataFrame)
    probes: pd.DataFrame = field(default_factory=pd.DataFrame)
    causal: pd.DataFrame = field(default_factory=pd.DataFrame)
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Position-group patching of vision models (patching.groups)."""
    spectral: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The SVD view of every checkpoint's update, per matrix (patching.spectral)."""
    overlap: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Overlap of two checkpoints' update subspaces, per matrix (patching.spectral)."""
    faithfulness: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Faithfulness curves of the top-k sites under each ablation (patching.ablation)."""
    restore: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Accuracy with the top-k directions of an update restored into the base (patching.spectral)."""
    mib: pd.DataFrame = field(default_factory=pd.DataFrame)
    """MIB's CPR and CMD of every ranking a sweep made, under each ablation (patching.mib)."""
    lens: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Logit and tuned lens rows: per checkpoint, lens, problem and layer (probes.lens)."""
    das: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Interchange accuracy per checkpoint, site, position, method, k, split and pairing (patching.das_run)."""
    deltas: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per-problem correctness of each checkpoint's delta variants (patching.deltas)."""
    templates: pd.DataFrame = field(default_factory=pd.DataFrame)
    """problem_id -> template of the test originals (F8)."""
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every evaluated data folder's problems with their facts (analysis.problems)."""
    requests: list[dict] = field(default_factory=list)


def model_facts(card: dict, folder: Path | str) -> dict:
    """One models-table row from a run card (or from a run name like theorem-mlp-s1 when the card is thin)."""
    config = card.get("config", {})
    name = card.get("name") or Path(folder).name
    guess = parse_run_name(name) or {}
    parsed = bool(guess)
    metrics = card.get("metrics", {})
    return {"model": name, "kind": card.get("kind") or ("sft" if parsed else "base"),
            "target": config.get("target", guess.get("target")), "params": config.get("params", guess.get("params")),
            "seed": int(config.get("seed", guess.get("seed", 0))), "variant": card.get("variant"),
            "lr": config.get("lr"),
            "steps": config.get("steps"), "published_step": card.get("step"), "stopped": card.get("stopped"),
            "trainable": card.get("parameters", {}).get("trainable"),
            "total": card.get("parameters", {}).get("total"), "tokens_seen": metrics.get("tokens_seen"),
            "target_tokens_seen": metrics.get("target_tokens_seen"), "train_seconds": metrics.get("train_seconds"),
            "eval_size": config.get("eval_size"), "folder": str(folder)}


def _curve(card: dict) -> list[dict]:
    return [{"model": card.get("name"), **entry} for entry in card.get("metrics", {}).get("evals", [])]


def _curve_predictions(run: Path, model: str) -> list[pd.DataFrame]:
    """The graded predictions a run wrote while it trained (RUN/curve/step-N.parquet: every perturbation of its
    first test originals, training.periodic), as intermediate-step predictions (final = False: the final model's
    own evaluation covers every original)."""
    frames = []
    for path in sorted((run / "curve").glob("step-*.parquet")):
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read ({err})") from err
        frames.append(frame.assign(model=model, final=False))
    return frames


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


MARKERS = ("request.json", "predictions.parquet", "run_card.json")


def _find(root: Path) -> dict[str, list[Path]]:
    """Every folder under `root` holding each marker file, in one walk that follows symlinked folders (results are
    often linked in)."""
    found: dict[str, list[Path]] = {name: [] for name in MARKERS}
    for folder, _, files in os.walk(root, followlinks=True):
        for name in MARKERS:
            if name in files:
                found[name].append(Path(folder))
    return {name: sorted(folders) for name, folders in found.items()}


def check_has_results(root: Path) -> None:
    """Refuse a folder with no results under it (a data folder, an empty or mistyped one) before anything is
    written into it."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such results folder")
    if not any(_find(root).values()):
        raise FileNotFoundError(f"{root}: no tsft results under it (no run_card.json, request.json or "
                                "predictions.parquet): give the folder of a reproduce run or of tsft eval/patch/probe "
                                "outputs")


def _result_folders(found: dict[str, list[Path]]):
    """(folder, request) of every result; an evaluation saved before evaluations wrote a request is read as the
    final checkpoint's."""
    for folder in found["request.json"]:
        yield folder, _read_request(folder)
    for folder in found["predictions.parquet"]:
        if not (folder / "request.json").is_file():
            yield folder, {"kind": "eval"}


def _cards(root: Path, found: dict[str, list[Path]]):
    for folder in found["run_card.json"]:
        if "checkpoints" in folder.parts[len(root.parts):]:
            continue
        card = read_json(folder / "run_card.json")
        if card.get("status") == "complete":
            yield folder, card


READERS = {
    "eval": (("train_predictions", "train_predictions.parquet"),),
    "sweep": (("patch_pairs", "pairs.parquet"), ("faithfulness", "faithfulness.parquet"),
              ("mib", "mib_scores.parquet")),
    "cross": (("cross_pairs", "pairs.parquet"),),
    "transplant": (("transplant", "transplant.parquet"),), "probes": (("probes", "probes.parquet"),),
    "causal": (("causal", "causal.parquet"),), "weights": (("weights", "weights.parquet"),),
    "groups": (("groups", "groups.parquet"),),
    "spectral": (("spectral", "spectral.parquet"), ("overlap", "overlap.parquet")),
    "restore": (("restore", "restore.parquet"),), "lens": (("lens", "lens.parquet"),),
    "das": (("das", "das.parquet"),), "deltas": (("deltas", "deltas.parquet"),),
}
"""Each result kind's tables: (Results field, file in the results folder)."""


def collect(folder: str | Path) -> Results:
    """Every result under `folder`, as tables (see the module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such results folder")
    models, curves, parts = {}, [], {name: [] for files in READERS.values() for name, _ in files}
    evals, data_dirs, requests = [], set(), []
    found = _find(root)
    for run, card in _cards(root, found):
        facts = model_facts(card, run)
        models[facts["model"]] = facts
        curves += _curve(card)
        during = _curve_predictions(run, facts["model"])
        if during:
            evals += during
            data_dirs.add(card.get("data", ""))
    for result, request in _result_folders(found):
        kind = request.get("kind")
        requests.append({"folder": str(result), **request})
        if kind == "eval" and (result / "predictions.parquet").is_file():
            evals.append(_eval_frame(result, request))
            data_dirs.add(request.get("data", ""))
            name = request.get("name") or evals[-1]["model"].iloc[0]
            models.setdefault(name, model_facts({"name": name, "config": request.get("config", {}),
                                                 "kind": request.get("model_kind")}, request.get("model", "")))
        for table, file in READERS.get(kind, ()):
            if (result / file).is_file():
                frame = pd.read_parquet(result / file)
                parts[table].append(frame.assign(pair_type=request.get("pair_type"))
                                   if kind == "sweep" and "pair_type" not in frame else frame)
    tables = {name: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
              for name, frames in parts.items()}
    models = pd.DataFrame(list(models.values()), columns=MODEL_COLUMNS)
    problems = problem_facts(data_dirs)
    return Results(folder=root, models=models, curves=pd.DataFrame(curves), predictions=_with_steps(evals, models),
                   templates=original_templates(problems), problems=problems, requests=requests, **tables)


def _with_steps(evals: list[pd.DataFrame], models: pd.DataFrame) -> pd.DataFrame:
    """Predictions with an integer `step`: a final evaluation that did not record it takes its run's step count."""
    if not evals:
        return pd.DataFrame()
    frame = pd.concat(evals, ignore_index=True)
    steps = frame["model"].map(models.set_index("model")["steps"])
    frame["step"] = pd.to_numeric(frame["step"], errors="coerce").fillna(pd.to_numeric(steps, errors="coerce"))
    frame["step"] = frame["step"].fillna(-1).astype(int)
    return _without_repeats(frame)


def _without_repeats(frame: pd.DataFrame) -> pd.DataFrame:
    """A run's curve rows (final = False) at the step its final evaluation scored are the same checkpoint's
    answers on a subset of the problems: keep the final evaluation's, so no original counts twice there."""
    if "final" not in frame:
        return frame
    final = frame["final"].astype(bool).to_numpy()
    checkpoint = pd.MultiIndex.from_frame(frame[["model", "step"]])
    return frame[final | ~checkpoint.isin(checkpoint[final])].reset_index(drop=True)
