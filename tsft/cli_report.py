"""`tsft reproduce`, `tsft analyze` and `tsft figures`: the main job, and re-rendering from saved results."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from tsft.common import ERRORS, Opt, console, fail, print_rows

PngOpt = Annotated[bool, Opt("--png/--no-png", help="Also write PNGs when kaleido finds a Chrome/Chromium.")]


def print_claims(claims) -> None:
    from tsft.figures.report import claim_sentence

    rows = [(r["claim"], r["verdict"], r["value"], f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]", r["null"],
             int(r["n_seeds"])) for _, r in claims.iterrows()]
    print_rows("claims (95% intervals; supported only when the interval excludes the null)",
               ["claim", "verdict", "effect", "95% CI", "null", "seeds"], rows)
    for _, row in claims.iterrows():
        console.print(claim_sentence(row), highlight=False)


def saved_meta(results: Path) -> dict:
    """The run's reproduce.json for the report's metadata, or just the folder when it was not made by reproduce."""
    from tsft.tasks.io import read_json

    path = results / "reproduce.json"
    return read_json(path) if path.is_file() else {"results": str(results)}


def reproduce_command(
    out: Annotated[Path, Opt(help="Run folder; every stage's results and report.html go here.")],
    preset: Annotated[str, Opt(help="smoke (CI, ~2 min) | quick (CPU, 7-13 min) | real (SmolLM2-135M-Instruct "
                                    "fine-tuned, CPU, see results/) | paper (one GPU).")] = "quick",
    modality: Annotated[str, Opt(help="text (the synthetic world, a Llama base) | vision (the diagram world, "
                                      "a Qwen2.5-VL base, position-group patching).")] = "text",
    model: Annotated[Path | None, Opt(help="Use this local HF checkpoint as the base instead of training one.")] = None,
    data: Annotated[Path | None, Opt(help="Use this data folder (from `tsft data build`) instead of the "
                                          "synthetic world.")] = None,
    device: Annotated[str, Opt(help="cpu | cuda (cuda runs jobs one at a time).")] = "cpu",
    jobs: Annotated[int | None, Opt(help="Parallel worker processes on CPU (default: the preset's).", min=1)] = None,
    seeds: Annotated[int | None, Opt(help="Train only the first N of the preset's seeds (a part of the matrix, "
                                          "every arm alike); a later run with more continues the same folder.",
                                     min=1)] = None,
    seed: Annotated[int, Opt(help="Seed of the data and the base.")] = 0,
    png: PngOpt = True,
    overwrite: Annotated[bool, Opt(help="Delete --out and start over (default: continue it).")] = False,
) -> None:
    """Train the comparison checkpoints, evaluate, patch, probe, compare; write tables, figures, report.html.
    A rerun skips every finished stage, so a killed run continues where it stopped."""
    from tsft.presets import preset as get_preset
    from tsft.reproduce import StageError, reproduce
    from tsft.stages import Inputs

    try:
        chosen = get_preset(preset, modality)
    except ValueError as err:
        fail(str(err))
    if jobs is not None:
        chosen = dataclasses.replace(chosen, jobs=jobs)
    if seeds is not None:
        chosen = dataclasses.replace(chosen, seeds=chosen.seeds[:seeds])
    for name, path in (("--model", model), ("--data", data)):
        if path is not None and not path.is_dir():
            fail(f"{name} {path}: no such folder")
    from tsft.models.cards import Checkpoint
    from tsft.models.loading import ModelError, check_device

    try:
        check_device(device)
        if model is not None:
            Checkpoint.open(model)  # a data folder (or any folder without config.json) refused before any stage
    except ModelError as err:
        fail(str(err))
    from tsft.tasks.locking import LOCK, FolderLocked, writing

    start = time.perf_counter()
    try:
        with writing(out, log=console.print):  # a second writer is refused before --overwrite deletes anything
            if overwrite:
                for child in out.iterdir():
                    if child.name != LOCK:
                        shutil.rmtree(child) if child.is_dir() else child.unlink()
            claims = reproduce(Inputs(out, model, data, device, seed), chosen, png)
    except (StageError, FolderLocked, *ERRORS) as err:
        fail(str(err))
    print_claims(claims)
    console.print(f"report: {out / 'report.html'} ({time.perf_counter() - start:.0f} s this run)", highlight=False)


def analyze_command(
    results: Annotated[Path, typer.Argument(help="A folder holding results (a reproduce run, or any tree of "
                                                 "tsft eval/patch/probe outputs and run folders).")],
    png: PngOpt = True,
) -> None:
    """Recompute the analysis tables from saved results, then the figures and the report."""
    from tsft.analysis.collect import check_has_results
    from tsft.reproduce import analyze

    try:
        check_has_results(results)
        claims = analyze(results, saved_meta(results), png, log=console.print)
    except (*ERRORS, OSError) as err:
        fail(str(err))
    print_claims(claims)
    console.print(f"report: {results / 'report.html'}", highlight=False)


def figures_command(
    results: Annotated[Path, typer.Argument(help="A folder with tables/ (from `tsft reproduce` or `tsft analyze`).")],
    png: PngOpt = True,
    readme: Annotated[Path | None, Opt(help="Also rewrite this README's block between '<!-- tsft results: "
                                            "RESULTS -->' and '<!-- tsft results end -->' from the tables.")] = None,
) -> None:
    """Re-render every figure, the report and summary.md from the saved tables, recomputing nothing."""
    from tsft.analysis.tables import read_tables
    from tsft.figures.render import render_folder
    from tsft.figures.summary import BEGIN, marked_block, update_readme

    try:
        tables = read_tables(results / "tables")
    except FileNotFoundError as err:
        fail(str(err))
    if readme is not None and (not readme.is_file() or marked_block(readme.read_text(), results.as_posix()) is None):
        fail(f"{readme}: no block marked {BEGIN.format(folder=results.as_posix())} to rewrite")
    written = render_folder(tables, saved_meta(results), results, png, log=console.print)
    console.print(f"{len(written)} figure files in {results / 'figures'}; report: {results / 'report.html'}; "
                  f"numbers: {results / 'summary.md'}", highlight=False)
    if readme is not None:
        update_readme(readme, results.as_posix(), tables)
        console.print(f"rewrote the results block of {readme}", highlight=False)
