"""The `tsft` command: one subcommand group per room. It parses options and prints; the rooms
hold the logic. Groups: `data` (tasks/), `models` (pretrained models from PyPI), `train` and `eval`
(training/), `patch` (patching/), `probe` (probes/);
`reproduce` runs them all and reports (analysis/, figures/); `analyze` and `figures` rebuild from saved results.

Each subcommand imports its room when it runs, not when the command starts: `tsft --help` and `tsft data` start
without torch, and `tsft train` runs on a machine without plotly, TransformerLens or nnsight (a lent GPU box).
That is the one reason project imports sit inside functions in tsft/ (tsft.jobs has another: a worker sets its
torch threads before torch is imported)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from tsft.cli_models import models_app
from tsft.cli_patch import patch_app
from tsft.cli_probe import probe_app
from tsft.cli_report import analyze_command, figures_command, reproduce_command
from tsft.cli_train import eval_command, train_app
from tsft.common import Opt, fail, print_rows
from tsft.tasks.io import DataError
from tsft.tasks.world.generate import WorldConfig

app = typer.Typer(help="tsft: why does math SFT generalize? Data, training, patching, probes, reports.",
                  no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="tasks/: build and inspect problem sets (synthetic world or real data).",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(train_app, name="train")
app.add_typer(patch_app, name="patch")
app.add_typer(probe_app, name="probe")
app.command("eval")(eval_command)
app.command("reproduce")(reproduce_command)
app.command("analyze")(analyze_command)
app.command("figures")(figures_command)


def _print_tables(tables) -> None:
    for table in tables:
        print_rows(table.title, table.columns, table.rows)


WORLD = WorldConfig()  # the synthetic defaults, shown in --help


@data_app.command("build")
def data_build(
    out: Annotated[Path, Opt(help="Output folder (written atomically).")],
    source: Annotated[str, Opt(help="synthetic | diagram | math | gsm8k | gsm-symbolic | theoremqa | champ | "
                                    "geoqa | pairs | jsonl")] = "synthetic",
    path: Annotated[Path | None, Opt(help="Input file or folder (real sources; CHAMP defaults to the "
                                          "champ-dataset package's copy).")] = None,
    seed: Annotated[int, Opt(help="Seed of every random draw (same seed, same bytes).")] = 0,
    n_train: Annotated[int | None, Opt(help=f"Synthetic training problems (default: {WORLD.n_train}).")] = None,
    n_test: Annotated[int | None, Opt(help="Synthetic test problems, the originals of every perturbation "
                                           f"(default: {WORLD.n_test}).")] = None,
    n_val: Annotated[int | None, Opt(help="Synthetic validation problems (training templates, texts in neither "
                                          "train nor test; default: none).")] = None,
    cue_strength: Annotated[float | None, Opt(help="Synthetic spurious-cue strength in [0, 1] "
                                                   f"(default: {WORLD.cue_strength}).")] = None,
    skip_invalid: Annotated[bool, Opt(help="Skip and count malformed rows instead of stopping.")] = False,
    field_map: Annotated[str | None, Opt(help="jsonl source: schema field=file key pairs, comma-separated, e.g. "
                                              "'text=question, answer=final, split=split'.")] = None,
    theorems_path: Annotated[Path | None, Opt(help="theoremqa source: all_theorems.json (default: beside the "
                                                   "test file).")] = None,
    eval_only: Annotated[str | None, Opt(help="Mark the folder evaluation-only, naming the benchmark its problems "
                                              "come from (benchmark sources are marked without it); `tsft train` "
                                              "then refuses it.")] = None,
    overwrite: Annotated[bool, Opt(help="Replace an existing output folder (whole, atomically).")] = False,
) -> None:
    """Build a data folder: train/test splits, perturbed/<kind>.jsonl, theorems.json, manifest.json."""
    from tsft.tasks.build import build
    from tsft.tasks.summary import count_tables

    start = time.perf_counter()
    try:
        manifest = build(source, out, path=path, seed=seed, n_train=n_train, n_test=n_test, n_val=n_val,
                         cue_strength=cue_strength, skip_invalid=skip_invalid, field_map=field_map,
                         theorems_path=theorems_path, eval_only=eval_only, overwrite=overwrite)
    except (DataError, ValueError, KeyError, FileExistsError) as err:
        fail(str(err))
    _print_tables(count_tables(manifest))
    typer.echo(f"wrote {out} in {time.perf_counter() - start:.2f} s")


@data_app.command("show")
def data_show(folder: Annotated[Path, typer.Argument(help="A data folder built by `tsft data build`.")],
              n: Annotated[int, Opt(help="Test problems to show.")] = 5) -> None:
    """Print the manifest as tables and a readable sample of problems."""
    from tsft.tasks.dataset import load_dataset
    from tsft.tasks.summary import count_tables, sample_table

    try:
        dataset = load_dataset(folder)
    except DataError as err:
        fail(str(err))
    _print_tables([*count_tables(dataset.manifest), sample_table(dataset, n)])


def main() -> None:
    import os
    import sys

    if not sys.stderr.isatty():  # no per-load "Loading weights" bars from transformers in a redirected log
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not sys.stdout.isatty() and "TERMINAL_WIDTH" not in os.environ:  # piped help: not cut at 80 columns
        import typer.rich_utils

        typer.rich_utils.MAX_WIDTH = 120
    app()


if __name__ == "__main__":
    main()
