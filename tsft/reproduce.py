"""`tsft reproduce`: train the comparison checkpoints, measure them, open them up, and report.

Layout of a run folder RUN (each stage's output is skipped when present, so a killed run continues):

    data/                    the synthetic world, or the diagram world with --modality vision (or --data DIR)
    base/                    the base trained here, or the preset's pretrained model (a copy from the
                             `tsft models` cache), or --model PATH used in place
    sft/<target>-<params>-s<seed>/   one checkpoint per variant, with its training curve and kept
                             intermediate checkpoints (for matched-accuracy comparisons)
    eval/<run>/              graded predictions on originals and perturbation kinds
    eval-matched/<run>-step<N>/  the checkpoints the training curves match across targets
    eval-curve/<run>-step<N>/    every other kept checkpoint of the full-tuning runs (C1 / C2 at OOD-peak)
    patch/<model>[-surface]/ activation patching on theorem-swap pairs (base included, as C4's control)
                             and, for full tuning, on surface pairs (same rule, other names; KL metric);
                             vision: position-group patching on given_swap pairs (patching.groups)
    probe/                   per-layer probes (base and every full-tuning checkpoint, seed 0)
    cross/, transplant/      theorem-SFT into answer-SFT; MLP transplant and per-layer revert
    weights/                 weight change from the base
    tables/ figures/ report.html   analysis, figures and the report (rebuilt every time)
    reproduce.json           the preset, inputs, per-stage wall times and versions

Stages run in order; the jobs of one stage run in `preset.jobs` spawned workers, each with
cores // workers torch threads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsft.jobs import JobFailed, done, quiet, run_job, worker_init
from tsft.presets import Preset

STAGES = ("data", "base", "sft", "eval", "eval-matched", "eval-curve", "patch", "probe", "cross", "transplant",
          "weights")


@dataclass
class Job:
    stage: str
    name: str
    kind: str
    output: Path
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """Where the pipeline starts: the run folder, an optional existing base and data folder, the device."""

    out: Path
    model: Path | None = None
    data: Path | None = None
    device: str = "cpu"
    seed: int = 0


def data_dir(inputs: Inputs) -> Path:
    return inputs.data or inputs.out / "data"


def base_dir(inputs: Inputs) -> Path:
    return inputs.model or inputs.out / "base"


def variants(inputs: Inputs, preset: Preset) -> list[tuple[str, str, int]]:
    """(target, params, seed) of every SFT run: the matrix, plus per-layer MLP-only theorem runs for E7 when the
    preset asks and the base exists (its config says how many layers)."""
    runs = preset.runs()
    config = base_dir(inputs) / "config.json"
    if preset.layer_runs and "theorem" in preset.targets and config.is_file():
        layers = json.loads(config.read_text()).get("num_hidden_layers", 0)
        runs += [("theorem", f"mlp:{layer}-{layer}", preset.seeds[0]) for layer in range(layers)]
    return runs


def sft_dir(inputs: Inputs, target: str, params: str, seed: int) -> Path:
    from training.sft import run_name

    return inputs.out / "sft" / run_name(target, params, seed)


def _first(inputs: Inputs, preset: Preset, target: str, params: str) -> Path | None:
    if (target, params, preset.seeds[0]) in preset.runs():
        return sft_dir(inputs, target, params, preset.seeds[0])
    return None


def plan(stage: str, inputs: Inputs, preset: Preset) -> list[Job]:
    """The jobs of one stage (later stages read what earlier ones wrote, so plan them in order)."""
    p, data, base, out = preset.to_dict(), data_dir(inputs), base_dir(inputs), inputs.out
    runs = [(t, pa, s, sft_dir(inputs, t, pa, s)) for t, pa, s in variants(inputs, preset)]
    if stage == "data":
        return [] if inputs.data else [Job(stage, "data", "data", data, {"out": data, "preset": p,
                                                                         "seed": inputs.seed})]
    if stage == "base" and preset.base_model and not inputs.model:
        return [Job(stage, preset.base_model, "fetch", base / "config.json", {"out": base, "name": preset.base_model})]
    if stage == "base":
        return [] if inputs.model else [Job(stage, "base", "base", base / "run_card.json",
                                            {"out": base, "preset": p, "seed": inputs.seed})]
    if stage == "sft":
        return [Job(stage, folder.name, "sft", folder / "run_card.json",
                    {"out": folder, "base": base, "data": data, "target": t, "params": pa, "seed": s,
                     "lr": preset.lr_for(t, pa), "preset": p}) for t, pa, s, folder in runs]
    if stage == "eval":
        return [_eval_job(stage, folder.name, folder, out / "eval" / folder.name, inputs, preset)
                for _, _, _, folder in runs]
    if stage == "eval-matched":
        return _matched_jobs(inputs, preset)
    if stage == "eval-curve":
        return _curve_jobs(inputs, preset, [folder for _, pa, _, folder in runs if pa == "full"])
    if stage == "patch" and preset.modality == "vision":
        models = [base] + [folder for t, pa, s, folder in runs if s == preset.seeds[0] and pa in ("full", "mlp")]
        return [Job(stage, m.name, "groups", out / "patch" / m.name / "groups.parquet",
                    {"out": out / "patch" / m.name, "model": m, "data": data, "limit": preset.patch_limit,
                     "target": "answer" if m == base else None, "device": inputs.device}) for m in models]
    if stage == "patch":
        models = [base] + [folder for t, pa, s, folder in runs if s == preset.seeds[0] and pa in ("full", "mlp")]
        sweeps = [(m, "theorem_swap", "logit_diff", m.name) for m in models]
        sweeps += [(m, "surface", "kl", f"{m.name}-surface") for m in models if m != base and "full" in m.name]
        return [Job(stage, name, "patch", out / "patch" / name / "summary.parquet",
                    {"out": out / "patch" / name, "model": m, "data": data, "limit": preset.patch_limit,
                     "target": "theorem" if m == base else None, "device": inputs.device, "pair_type": pair_type,
                     "metric": metric}) for m, pair_type, metric, name in sweeps]
    if stage == "probe":
        models = [base] + [folder for t, pa, s, folder in runs if s == preset.seeds[0] and pa == "full"]
        return [Job(stage, "probes", "probe", out / "probe" / "probes.parquet",
                    {"out": out / "probe", "models": models, "data": data, "limit": preset.probe_limit,
                     "components": preset.probe_components, "labels": preset.probe_labels,
                     "device": inputs.device, "positions": preset.probe_positions, "kinds": preset.probe_kinds})]
    if stage in ("cross", "transplant") and preset.modality == "vision":
        return []  # their engines read text-only pairs; the vision run patches position groups instead
    return _comparison_jobs(stage, inputs, preset, base, data, [folder for *_, folder in runs])


def _eval_job(stage: str, name: str, model: Path, out: Path, inputs: Inputs, preset: Preset) -> Job:
    return Job(stage, name, "eval", out / "summary.csv", {"out": out, "model": model, "data": data_dir(inputs),
                                                          "kinds": preset.kinds, "limit": preset.eval_limit,
                                                          "device": inputs.device, "batch_size": preset.gen_batch})


def _matched_jobs(inputs: Inputs, preset: Preset) -> list[Job]:
    """Evaluate the intermediate checkpoints at which the full-tuning runs' training curves match."""
    from analysis.accuracy import matched_steps
    from analysis.collect import collect

    if not (inputs.out / "sft").is_dir():
        return []
    results = collect(inputs.out / "sft")
    jobs = []
    for _, row in matched_steps(results.curves, results.models).iterrows():
        folder = inputs.out / "sft" / row["model"] / "checkpoints" / f"step-{int(row['step']):06d}"
        if folder.is_dir():  # the final step is the final checkpoint, already evaluated
            name = f"{row['model']}-step{int(row['step'])}"
            jobs.append(_eval_job("eval-matched", name, folder, inputs.out / "eval-matched" / name, inputs,
                                  preset))
    return jobs


def _curve_jobs(inputs: Inputs, preset: Preset, runs: list[Path]) -> list[Job]:
    """Evaluate every kept intermediate checkpoint of `runs` that eval-matched does not (analysis.readings)."""
    matched = {job.name for job in _matched_jobs(inputs, preset)}
    jobs = []
    for run in runs:
        for folder in sorted((run / "checkpoints").glob("step-*")):
            name = f"{run.name}-step{int(folder.name.removeprefix('step-'))}"
            if name not in matched and (folder / "config.json").is_file():
                jobs.append(_eval_job("eval-curve", name, folder, inputs.out / "eval-curve" / name, inputs, preset))
    return jobs


def _comparison_jobs(stage: str, inputs: Inputs, preset: Preset, base: Path, data: Path, runs: list[Path]) -> list:
    out = inputs.out
    if stage == "cross":
        a, b = _first(inputs, preset, "theorem", "full"), _first(inputs, preset, "answer", "full")
        return [] if a is None or b is None else [
            Job(stage, f"{a.name}->{b.name}", "cross", out / "cross" / "summary.parquet",
                {"out": out / "cross", "a": a, "b": b, "data": data, "limit": preset.patch_limit,
                 "device": inputs.device})]
    if stage == "transplant":
        pairs = [(_first(inputs, preset, "theorem", "mlp"), _first(inputs, preset, "answer", "mlp"),
                  ("original", *(preset.kinds or ())[:1])),
                 (base, _first(inputs, preset, "theorem", "mlp"), ("original",))]
        return [Job(stage, f"{a.name}->{b.name}", "transplant", out / "transplant" / f"{a.name}__{b.name}",
                    {"out": out / "transplant" / f"{a.name}__{b.name}", "a": a, "b": b, "data": data,
                     "limit": preset.transplant_limit, "kinds": kinds, "device": inputs.device})
                for a, b, kinds in pairs if a is not None and b is not None]
    if stage == "weights":
        return [Job(stage, "weights", "weights", out / "weights" / "weights.parquet",
                    {"out": out / "weights", "base": base, "models": runs})]
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")


def run_stage(jobs: list[Job], workers: int, on_done: Callable[[Job, float | None], None]) -> None:
    """Run the jobs not yet done, in `workers` spawned processes (1: in this process)."""
    todo = [job for job in jobs if not done(job.output)]
    for job in jobs:
        if job not in todo:
            on_done(job, None)
    if not todo:
        return
    workers = max(1, min(workers, len(todo)))
    if workers == 1:
        for job in todo:
            on_done(job, _checked(job, lambda j: run_job(j.kind, j.kwargs)))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(run_job, job.kind, job.kwargs): job for job in todo}
        for future in as_completed(futures):
            on_done(futures[future], _checked(futures[future], lambda _, f=future: f.result()))


class StageError(RuntimeError):
    """A job failed; what earlier jobs wrote is kept, and a rerun continues from there."""


def _checked(job: Job, call) -> float:
    try:
        return call(job)
    except Exception as err:
        what = str(err) if isinstance(err, JobFailed) else f"{type(err).__name__}: {err}"
        raise StageError(f"stage {job.stage}, job {job.name}: {what} (finished work is kept; rerun the same command "
                         "to continue)") from err


def identity(meta: dict) -> dict:
    """What must not change between a run and its resume: the preset's sizes (not its worker count) and inputs."""
    normal = json.loads(json.dumps({"preset": meta["preset"], "inputs": meta["inputs"]}, default=str))
    normal["preset"].pop("jobs", None)
    return normal


def check_meta(path: Path, meta: dict) -> dict:
    """The saved reproduce.json, refused (naming each difference) if its preset or inputs differ from this run's."""
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text())
    old, new = identity(saved), identity(meta)
    differ = [f"{part}.{key}: {old[part].get(key)!r} -> {new[part].get(key)!r}" for part in ("preset", "inputs")
              for key in sorted(set(old[part]) | set(new[part])) if old[part].get(key) != new[part].get(key)]
    if differ:
        raise ValueError(f"{path}: this folder was made with other settings ({'; '.join(differ)}); continue it "
                         "with the same ones, or use another --out or --overwrite")
    return saved


def write_meta(path: Path, meta: dict) -> None:
    from tasks.io import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")


def versions() -> dict:
    import importlib.metadata as md

    out = {}
    for package in ("torch", "transformers", "pandas", "scikit-learn", "plotly", "numpy"):
        try:
            out[package] = md.version(package)
        except md.PackageNotFoundError:
            out[package] = None
    return out


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 2)


def analyze(folder: Path, meta: dict, png: bool = True, log: Callable[[str], None] = print):
    """Tables, figures and the report from everything under `folder`; returns the claims table."""
    from analysis.collect import collect
    from analysis.tables import analysis_tables, write_tables

    tables = analysis_tables(collect(folder))
    write_tables(tables, folder / "tables")
    try:
        from figures.render import render_folder
    except ImportError as err:  # a GPU box with torch + transformers only: tables now, figures elsewhere
        log(f"figures and report skipped ({err}); tables are in {folder / 'tables'}: run `tsft figures {folder}` "
            "where plotly is installed")
        return tables["claims"]
    render_folder(tables, meta, folder, png, log)
    return tables["claims"]


def fit_to_data(inputs: Inputs, preset: Preset, log: Callable[[str], None] = print) -> Preset:
    """With --data, the preset as far as that folder allows: refused when eval-only (tasks.guards) or without a
    train split (SFT needs training problems); the targets its training problems cannot render (theorem:
    annotations; solution: steps) dropped, each named with the reason. Claims that need a dropped target come out
    inconclusive, saying what is missing."""
    if inputs.data is None:
        return preset
    from tasks.dataset import load_dataset
    from tasks.guards import check_trainable
    from training.targets import TargetError, check_renderable

    dataset = load_dataset(inputs.data)
    check_trainable(dataset.manifest, inputs.data)  # an eval-only folder is refused before any stage
    train = dataset.split("train")  # a DataError naming the folder when there is none
    kept = []
    for target in preset.targets:
        try:
            check_renderable(train, target, f"{inputs.data}/train.jsonl")
            kept.append(target)
        except TargetError as err:
            log(f"target {target!r} skipped: {err}")
    if not kept:
        raise ValueError(f"{inputs.data}: no target can be trained on its train split")
    return dataclasses.replace(preset, targets=tuple(kept))


def reproduce(inputs: Inputs, preset: Preset, png: bool = True, log: Callable[[str], None] = print):
    """Every stage in order (finished jobs skipped), then analysis and the report; returns the claims table."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    quiet()
    preset = fit_to_data(inputs, preset, log)
    inputs.out.mkdir(parents=True, exist_ok=True)
    meta_path = inputs.out / "reproduce.json"
    meta = {"preset": preset.to_dict(), "inputs": {"model": str(inputs.model) if inputs.model else None,
                                                   "data": str(inputs.data) if inputs.data else None,
                                                   "seed": inputs.seed}}
    saved = check_meta(meta_path, meta)
    meta |= {"stages": saved.get("stages", {}), "versions": versions(), "device": inputs.device,
             "base": str(base_dir(inputs)), "data": str(data_dir(inputs)), "seeds": list(preset.seeds),
             "targets": list(preset.targets), "params": list(preset.params), "sft_steps": preset.sft_steps,
             "eval_limit": preset.eval_limit}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        overall = bar.add_task("tsft reproduce", total=len(STAGES) + 1)
        for stage in STAGES:
            start, jobs = time.perf_counter(), plan(stage, inputs, preset)
            task = bar.add_task(f"  {stage}", total=max(1, len(jobs)))

            def finished(job: Job, seconds: float | None, task=task) -> None:
                bar.advance(task)
                note = "skipped (done)" if seconds is None else f"{seconds:.1f} s"
                bar.console.print(f"    {job.stage}: {job.name} {note}", highlight=False)

            run_stage(jobs, 1 if inputs.device != "cpu" else preset.jobs, finished)
            bar.update(task, completed=max(1, len(jobs)))
            meta["stages"][stage] = meta["stages"].get(stage, 0.0) + elapsed(start)
            write_meta(meta_path, meta)
            bar.advance(overall)
        start = time.perf_counter()
        from training.checkpoint import git_commit

        meta["git_commit"] = git_commit()
        meta["wall_seconds"] = round(sum(meta["stages"].values()), 1)
        claims = analyze(inputs.out, meta, png, log=bar.console.print)
        meta["stages"]["analysis"] = elapsed(start)
        meta["wall_seconds"] = round(sum(meta["stages"].values()), 1)
        write_meta(meta_path, meta)
        bar.advance(overall)
    return claims
