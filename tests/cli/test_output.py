"""Human output keeps every value whole: plain rows in a pipe, tables or records on a terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from v6ops.cli import output

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
LONG = "metald.network.ipv6.extension_headers.mode." + "x" * 150
ROWS = [("error", LONG, "unknown ExtensionHeaderMode 'EXTENSION_PARTY'"), ("warning", "ra_guard", "open")]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _render(monkeypatch: pytest.MonkeyPatch, columns: str | None, terminal: bool) -> str:
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    output.print_table("problems", ["severity", "path", "problem"], ROWS)
    return stream.getvalue()


@pytest.mark.parametrize("columns", [None, "40", "300"])
def test_off_a_terminal_each_row_is_one_whole_line_whatever_the_width(
        monkeypatch: pytest.MonkeyPatch, columns: str | None) -> None:
    lines = _render(monkeypatch, columns, terminal=False).splitlines()
    assert lines[0] == "# problems"
    assert lines[1].split() == ["severity", "path", "problem"]
    assert lines[2].split(None, 2) == ["error", LONG, "unknown ExtensionHeaderMode 'EXTENSION_PARTY'"]
    assert lines[3].split() == ["warning", "ra_guard", "open"]
    assert len(lines) == 4


@pytest.mark.parametrize("columns", ["40", "80", "300", "1000"])
def test_on_a_terminal_every_value_is_printed_whole(monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    text = _render(monkeypatch, columns, terminal=True)
    for row in ROWS:
        for value in row:
            assert any(value in line for line in text.splitlines()), (columns, value)
    wide_enough = int(columns) >= len(LONG) + 70
    assert ("┃" in text) == wide_enough  # a table when it fits, records when it does not
    if not wide_enough:
        assert "-[ record 1 ]-" in text and f"path      {LONG}" in text


def test_columns_is_read_when_printing_not_when_the_module_was_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    narrow = _render(monkeypatch, "40", terminal=True)
    wide = _render(monkeypatch, "400", terminal=True)
    assert "-[ record" in narrow and "┃" in wide


def test_a_line_break_inside_a_value_does_not_start_a_new_row(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    output.print_table(None, ["a", "b"], [("one\ntwo", "[red]x[/red]")])
    assert stream.getvalue().splitlines() == ["a         b", "one\\ntwo  [red]x[/red]"]


def _run_on_a_pty(args: list[str], columns: int) -> str:
    """Run the real command with a pseudo-terminal as stdout, as a person at a terminal would."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    proc = subprocess.Popen(args, stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [40, 300])
def test_a_real_terminal_narrow_or_wide_shows_every_value_whole(columns: int) -> None:
    text = _run_on_a_pty([sys.executable, "-m", "v6ops.cli", "addr", "explain", "fd00::1"], columns)
    reverse = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"
    for value in (reverse, "Unique-Local", "RFC 4193, RFC 8190", "fd00::1 - fd00::1"):
        assert value in text, (columns, value)


def test_validate_in_a_pipe_prints_each_problem_whole_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / ("a-rather-long-directory-name-" * 4) / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text((EXAMPLES / "ipv6-production.yaml").read_text().replace('mode: "SELECTIVE"', 'mode: "PARTY"'))
    env = {**os.environ, "SIEM_AUTH_TOKEN": "x", "COLUMNS": "40"}
    cmd = [sys.executable, "-m", "v6ops.cli", "policy", "validate"]
    piped = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, env=env)
    assert piped.returncode == 1
    report = json.loads(subprocess.run([*cmd, "--json", str(bad)], capture_output=True, text=True, env=env).stdout)
    [problem] = report["problems"]
    [line] = [line for line in piped.stdout.splitlines() if line.startswith("error ")]
    assert problem["path"] in line and problem["message"] in line and f"line {problem['line']}" in line
    assert piped.stdout.splitlines()[0] == f"# {bad}: 1 error(s), 0 warning(s)"
