"""Every command prints a table for people and ``--json`` for machines, from the same objects."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

# No emoji codes: rich would turn the ":100:" of 2001:db8:1:100::/56 into an emoji.
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, indent=None) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # Cells are Text, not markup: "[...]" in a value (an IPv6 literal, a rule) must print as-is.
    # A caller that wants colour passes a rich Text.
    table = Table(title=Text(title) if title else None, show_lines=False)
    for col in columns:
        table.add_column(Text(col), overflow="fold")
    for row in rows:
        table.add_row(*(v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in row))
    console.print(table)


def emit(objs: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print_json(objs)
    else:
        render(objs)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit, never a traceback."""
    err_console.print(Text("error: ", style="red") + Text(message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)
