"""What every `tsft` subcommand shares: option shorthand, option parsing, error exit, table printing.

Bad input is refused before any work, in one `error:` line with exit code 2, by one set of checks every command
uses rather than a check of its own:

1. **Numbers** are typed options with their range (`min=`): typer refuses `--limit 0` naming the option.
2. **Lists** go through the parsers here (`split_list`, `parse_layers`, `parse_ints`), which name the option.
3. **Settings** are checked by the object they configure, when it is made: `SweepRequest.check`,
   `PatchRequest.check`, `ProbeConfig`, `TrainConfig` (`--set`), `PromptFormat`, `CausalRequest.check`; a
   command builds its request first, so the check runs before a model is loaded.
4. **Paths**: `--out` by `tasks.io.check_writable` in every runner before it loads anything; models by
   `models.cards.Checkpoint.open`; data by `tasks.dataset.load_dataset`; results by
   `analysis.collect.check_has_results`.
5. **Inputs against the model**: prompts beyond its context (`models.evaluate.check_context`), the decoder's
   cache within its memory budget (`models.decoding.slots_within`).

Each raises ValueError (or a subclass) naming the option, file or field; `fail` turns it into the one line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from tsft.tasks.locking import FolderLocked

Opt = typer.Option
LOG_WIDTH = 200
"""Columns of the tables printed into a file or pipe (a nohup log): rich's default of 80 folds a wide table's
cells into unreadable fragments."""
console = Console() if sys.stdout.isatty() else Console(width=LOG_WIDTH)

ModelOpt = Annotated[Path, Opt(help="Checkpoint: a local HF model folder (a tsft run or Llama/Qwen2).")]
DataOpt = Annotated[Path, Opt(help="Data folder from `tsft data build`.")]
LayersOpt = Annotated[str | None, Opt(help="Layers, e.g. 0-3 or 1,5 (default: all).")]
OverwriteOpt = Annotated[bool, Opt(help="Replace --out if it exists.")]
DeviceOpt = Annotated[str, Opt(help="cpu | cuda | cuda:1 ...")]
DtypeOpt = Annotated[str | None, Opt(help="Weights' dtype: float32 | bfloat16 | float16 (default: as saved).")]
PrecisionOpt = Annotated[str, Opt(help="Compute precision (autocast): auto (bf16 for 20M+ parameter models on "
                                       "bf16-capable CPUs/GPUs, else fp32) | fp32 | bf16 | fp16 (CUDA).")]
ERRORS = (ValueError, KeyError, FileExistsError, FileNotFoundError, FolderLocked)


def split_list(text: str | None) -> tuple[str, ...] | None:
    """Split 'a, b,c' into ('a', 'b', 'c'); None or '' gives None."""
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def parse_layers(text: str | None) -> tuple[int, ...] | None:
    """'0-3,5' -> (0, 1, 2, 3, 5); a malformed part or a range that runs backwards is refused naming --layers."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if not first.strip().isdigit() or (last and not last.strip().isdigit()):
            fail(f"bad --layers {text!r}: use e.g. 0-3 or 1,5")
        if int(last or first) < int(first):
            fail(f"bad --layers {text!r}: the range {part.strip()} runs backwards "
                 f"(write {last.strip()}-{first.strip()})")
        out.extend(range(int(first), int(last or first) + 1))
    return tuple(out)


def parse_ints(option: str, text: str | None, minimum: int = 1) -> tuple[int, ...]:
    """'1,5,10' -> (1, 5, 10), each at least `minimum`; anything else is refused naming the option."""
    values = split_list(text) or ()
    bad = [v for v in values if not v.lstrip("-").isdigit() or int(v) < minimum]
    if bad:
        fail(f"bad {option} {text!r}: {bad[0]!r} is not a whole number of at least {minimum}")
    return tuple(int(v) for v in values)


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def print_rows(title: str, columns, rows) -> None:
    table = RichTable(title=title, title_justify="left")
    for column in columns:
        table.add_column(str(column), overflow="fold")
    for row in rows:
        table.add_row(*(f"{x:.3f}" if isinstance(x, float) else str(x) for x in row))
    console.print(table)


def print_frame(frame, title: str) -> None:
    print_rows(title, list(frame.columns), frame.itertuples(index=False))
