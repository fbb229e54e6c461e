"""Every command prints a table for people and ``--json`` for machines, from the same objects.

Human output has two layouts, chosen per call from where stdout goes:

- a terminal gets a rich table at the terminal's width (``COLUMNS`` honoured when set); a table
  that would have to fold a value to fit is printed as records instead (one ``field  value`` line
  each, like ``psql \\x``; a two-column table as plain lines), so no value is cut or broken mid-word;
- anything else (a pipe, a file, a test runner) gets plain aligned columns: a header line, then one
  line per row with every value whole, whatever ``COLUMNS`` says, as ``kubectl get`` or ``ip -br`` do.
  A title becomes a ``# title`` line, so several tables in one output stay apart and ``grep -v '^#'``
  leaves the records.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

# No emoji codes: rich would turn the ":100:" of 2001:db8:1:100::/56 into an emoji.
# soft_wrap: a message longer than the width is left to the terminal, never broken by rich.
console = Console(emoji=False, soft_wrap=True)
err_console = Console(stderr=True, emoji=False, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")

_GAP = "  "


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, indent=None) + "\n")


def _cell(value: Any) -> str:
    text = value.plain if isinstance(value, Text) else "" if value is None else str(value)
    # One record per line: a line break inside a value is shown, not obeyed.
    return text.replace("\r", "\\r").replace("\n", "\\n")


def plain_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned columns, one row per line, no value shortened: the layout for pipes and files."""
    cells = [[_cell(v) for v in row] for row in rows]
    header = [_cell(c) for c in columns]
    widths = [max([len(header[i]), *(len(r[i]) for r in cells if i < len(r))]) for i in range(len(header))]
    lines = [f"# {_cell(title)}"] if title else []
    for row in [header, *cells]:
        padded = [v.ljust(widths[i]) if i < len(row) - 1 else v for i, v in enumerate(row)]
        lines.append(_GAP.join(padded).rstrip())
    return "\n".join(lines) + "\n"


def _terminal_width() -> int:
    """``COLUMNS`` when set (read now, not when the module was imported), else the terminal's size."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80


def _rich_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    # Cells are Text, not markup: "[...]" in a value (an IPv6 literal, a rule) must print as-is.
    # A caller that wants colour passes a rich Text.
    table = Table(title=Text(title) if title else None)
    for col in columns:
        table.add_column(Text(col), no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(v if isinstance(v, Text) else Text(_cell(v)) for v in row))
    return table


def _records(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The narrow-terminal layout: each row as ``field  value`` lines, values whole."""
    key_width = max((len(c) for c in columns), default=0)
    out = [title] if title else []
    for n, row in enumerate(rows):
        out.append(f"-[ record {n + 1} ]-")
        out.extend(f"{_cell(c).ljust(key_width)}{_GAP}{_cell(v)}" for c, v in zip(columns, row, strict=False))
    return "\n".join(out) + "\n"


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    rows = list(rows)
    if not _is_terminal(sys.stdout):
        sys.stdout.write(plain_table(title, columns, rows))
        return
    width = _terminal_width()
    table = _rich_table(title, columns, rows)
    # Measured unconstrained: rich clamps a measurement to the console's width.
    needed = Console(emoji=False, width=1 << 20).measure(table).maximum
    if needed <= width:
        Console(emoji=False, width=width, highlight=False).print(table)
    elif len(columns) <= 2:
        sys.stdout.write(plain_table(title, columns, rows))
    else:
        sys.stdout.write(_records(title, columns, rows))


def emit(objs: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print_json(objs)
    else:
        render(objs)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit, never a traceback."""
    err_console.print(Text("error: ", style="red") + Text(message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)
