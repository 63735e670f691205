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
                             vision: position-group patching on given_swap pairs (patching.groups); for
                             theorem-SFT full tuning (seed 0) also attribution patching and AtP* beside exact
                             patching, zero / mean / resample ablations with faithfulness curves, and MIB's
                             CPR / CMD of every ranking against random orderings
    probe/                   per-layer probes (base and every full-tuning checkpoint, seed 0)
    erase/<run>/             LEACE erasure of the theorem label where the probes peak, vs random subspaces
    cross/, transplant/      theorem-SFT into answer-SFT (with random-direction draws); MLP transplant and
                             per-layer revert (with random-location draws)
    weights/                 weight change from the base
    spectral/                the SVD view of every update; theorem- vs answer-SFT update subspaces
    restore/<run>/           the base with the top-k directions of theorem-SFT's update restored
    lens/<style>/            logit and tuned lens of the base and seed 0's checkpoints (theorem name, answer)
    das/<model>/             distributed alignment search of the model's own theorem choice (base, seed 0's
                             answer-, solution-, theorem-SFT full and theorem-SFT MLP-only)
    deltas/<run>/            delta inference: the attention-only and MLP-only updates of each full-tuning run
    tables/ figures/ report.html   analysis, figures and the report (rebuilt every time)
    reproduce.json           the preset, inputs, per-stage wall times and versions

Stages (tsft.stages.STAGES, the one table of them) run in order; the jobs of one stage run in `preset.jobs`
spawned workers, each with cores // workers torch threads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from tsft.analysis.collect import collect
from tsft.analysis.tables import analysis_tables, write_tables
from tsft.jobs import JobFailed, done, quiet, run_job, worker_init
from tsft.models.cards import git_commit
from tsft.models.targets import TargetError, check_renderable
from tsft.presets import Preset
from tsft.stages import STAGES, Inputs, Job, base_dir, data_dir
from tsft.tasks.dataset import load_dataset
from tsft.tasks.guards import check_trainable
from tsft.tasks.io import atomic_file, read_json
from tsft.tasks.locking import writing


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
            on_done(job, _checked(job, lambda j: run_job(j.runner, j.kwargs)))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(run_job, job.runner, job.kwargs): job for job in todo}
        for future in as_completed(futures):
            on_done(futures[future], _checked(futures[future], lambda _, f=future: f.result()))


def replanned(stage, inputs: Inputs, preset: Preset, planned: list[Job]):
    """Yield the jobs `stage` plans anew once what it planned before is done (the lr stage extends a grid past a
    winning edge), until it plans nothing new; a job that ran without writing its output is an error, not a
    loop."""
    seen = {job.output for job in planned}
    while True:
        jobs = stage.plan(inputs, preset)
        missing = [job for job in jobs if job.output in seen and not done(job.output)]
        if missing:
            raise StageError(f"stage {stage.name}: {', '.join(j.name for j in missing)} ran but wrote no "
                             f"{missing[0].output.name} (finished work is kept)")
        more = [job for job in jobs if job.output not in seen]
        if not more:
            return
        seen |= {job.output for job in more}
        yield more


class StageError(RuntimeError):
    """A job failed; what earlier jobs wrote is kept, and a rerun continues from there."""


def _checked(job: Job, call) -> float:
    try:
        return call(job)
    except Exception as err:
        what = str(err) if isinstance(err, JobFailed) else f"{type(err).__name__}: {err}"
        raise StageError(f"stage {job.stage}, job {job.name}: {what} (finished work is kept; rerun the same command "
                         "to continue)") from err


GROWING = ("seeds", "long_arms")
"""Preset fields a resumed run may extend (the saved value must begin the new one): each adds runs and changes none
of those already made."""


def identity(meta: dict) -> dict:
    """What must not change between a run and its resume: the preset's sizes (not its worker count, and not the
    GROWING fields, which may grow: check_meta) and inputs."""
    normal = json.loads(json.dumps({"preset": meta["preset"], "inputs": meta["inputs"]}, default=str))
    for key in ("jobs", *GROWING):
        normal["preset"].pop(key, None)
    return normal


def check_meta(path: Path, meta: dict) -> dict:
    """The saved reproduce.json, refused (naming each difference) if its preset or inputs differ from this run's."""
    if not path.is_file():
        return {}
    saved = read_json(path)
    old, new = identity(saved), identity(meta)
    differ = [f"{part}.{key}: {old[part].get(key)!r} -> {new[part].get(key)!r}" for part in ("preset", "inputs")
              for key in sorted(set(old[part]) | set(new[part])) if old[part].get(key) != new[part].get(key)]
    for key in GROWING:  # more seeds (arms) extend a run; other seeds are other runs
        old_value, new_value = list(saved["preset"].get(key) or []), list(meta["preset"].get(key) or [])
        if new_value[:len(old_value)] != old_value:
            differ.append(f"preset.{key}: {old_value!r} -> {new_value!r} (a run is extended, never changed: the "
                          "saved value must begin the new one)")
    if differ:
        raise ValueError(f"{path}: this folder was made with other settings ({'; '.join(differ)}); continue it "
                         "with the same ones, or use another --out or --overwrite")
    return saved


def write_meta(path: Path, meta: dict) -> None:

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
    tables = analysis_tables(collect(folder))
    write_tables(tables, folder / "tables")
    try:
        from tsft.figures.render import render_folder  # plotly: a torch-only GPU box has none
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

    dataset = load_dataset(inputs.data)
    check_trainable(dataset.manifest, inputs.data, advice="reproduce trains on its --data folder, so give it a "
                    "training folder (tsft data build) and judge its checkpoints on this one with tsft eval")
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
    """Every stage in order (finished jobs skipped), then analysis and the report; returns the claims table. The
    run folder is locked while it runs (tasks.locking): a second writer is refused."""
    quiet()
    preset = fit_to_data(inputs, preset, log)
    with writing(inputs.out, log):
        return _reproduce(inputs, preset, png)


def _reproduce(inputs: Inputs, preset: Preset, png: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    meta_path = inputs.out / "reproduce.json"
    meta = {"preset": preset.to_dict(), "inputs": {"model": str(inputs.model) if inputs.model else None,
                                                   "data": str(inputs.data) if inputs.data else None,
                                                   "seed": inputs.seed}}
    saved = check_meta(meta_path, meta)
    meta |= {"stages": saved.get("stages", {}), "versions": versions(), "device": inputs.device,
             "base": str(base_dir(inputs)), "data": str(data_dir(inputs)), "seeds": list(preset.seeds),
             "targets": list(preset.targets), "params": list(preset.params), "sft_steps": preset.sft_steps,
             "eval_limit": preset.eval_limit, "cores": os.cpu_count()}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        overall = bar.add_task("tsft reproduce", total=len(STAGES) + 1)
        for stage in STAGES:
            start, jobs = time.perf_counter(), stage.plan(inputs, preset)
            task = bar.add_task(f"  {stage.name}: {stage.makes}", total=max(1, len(jobs)))

            def finished(job: Job, seconds: float | None, task=task) -> None:
                bar.advance(task)
                note = "skipped (done)" if seconds is None else f"{seconds:.1f} s"
                bar.console.print(f"    {job.stage}: {job.name} {note}", highlight=False)

            workers = 1 if inputs.device != "cpu" else preset.jobs
            run_stage(jobs, workers, finished)
            for more in replanned(stage, inputs, preset, jobs):  # a stage may plan more once its first jobs are done
                bar.update(task, total=bar.tasks[task].total + len(more))
                run_stage(more, workers, finished)
            bar.update(task, completed=bar.tasks[task].total)
            meta["stages"][stage.name] = meta["stages"].get(stage.name, 0.0) + elapsed(start)
            write_meta(meta_path, meta)
            bar.advance(overall)
        start = time.perf_counter()

        meta["git_commit"] = git_commit()
        meta["wall_seconds"] = round(sum(meta["stages"].values()), 1)
        claims = analyze(inputs.out, meta, png, log=bar.console.print)
        meta["stages"]["analysis"] = elapsed(start)
        meta["wall_seconds"] = round(sum(meta["stages"].values()), 1)
        write_meta(meta_path, meta)
        bar.advance(overall)
    return claims
