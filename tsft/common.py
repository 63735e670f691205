"""What every `tsft` subcommand shares: option shorthand, error exit, table printing."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table as RichTable

Opt = typer.Option
console = Console()


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
