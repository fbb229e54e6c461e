"""ALB lines parsed by column give exactly what the line-by-line parser gives, rejections included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from v6ops.flows import alb
from v6ops.flows.generate import generate
from v6ops.flows.problems import Rejections

LINE = (
    'h2 2026-01-05T00:41:10.104000Z app/my-loadbalancer/50dc6c495c0c9188 2A02:A33C:4538:0:A575:3D8B:C1E2:99A3:34036 '
    '10.0.0.7:80 0.001 0.018 0.000 200 200 887 39653 "GET https://www.example.com:443/p?id=61 HTTP/2.0" "curl/8.5.0" '
    'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/'
    '73e2d6bc24d8a067 "Root=1-58337327-72bd00b0343d75b906739c42" "www.example.com" "arn:aws:acm:us-east-2:'
    '123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2026-01-05T00:41:10.104000Z "forward" "-" "-" '
    '"10.0.0.7:80" "200" "-" "-" TID_1234abcd5678ef90'
)
# (old, new) replacements that give every spelling a column check must send line by line, and some it keeps.
EDITS = [
    ("2026-01-05T00:41:10.104000Z app", "2026-01-05T00:41:10Z app"), ("2026-01-05T00:41:10.104000Z app", "2026-01-05T00:41:10.1Z app"),
    ("2026-01-05T00:41:10.104000Z app", "2026-01-05T00:41:10.104000+00:00 app"),
    ("2026-01-05T00:41:10.104000Z app", "2026-02-30T00:41:10Z app"), ("2026-01-05T00:41:10.104000Z app", "2026-01-05 app"),
    (":34036 ", ":99999 "), (":34036 ", " "), (":34036 ", ":0 "), ("2A02:A33C:4538:0:A575:3D8B:C1E2:99A3", "[2001:db8::1]"),
    ("2A02:A33C:4538:0:A575:3D8B:C1E2:99A3", "2001:db8::zz"), ("10.0.0.7:80 0.001", "- 0.001"),
    ("0.001 0.018 0.000", "-1 -1 -1"), ("0.001 0.018", "1e-3 0.018"), ("0.018", "fast"), (" 200 200 ", " 200 - "),
    (" 200 200 ", " 2xx 200 "), (" 887 39653 ", " - 39653 "), ("h2 ", "ftp "), ('"curl/8.5.0"', '"curl \\"8\\""'),
    ('"curl/8.5.0"', 'curl/8.5.0'), ('"curl/8.5.0"', '"curl"x'), (" TID_1234abcd5678ef90", ""),
    (" TID_1234abcd5678ef90", " TID_1 more"), ("h2 2026", "h2  2026"), ("h2 ", "h2\t"),
]


def _line_by_line(lines: list[str]) -> tuple[pa.Table, Rejections]:
    rejections = Rejections()
    return alb.parse_each_line(lines, "alb.log", rejections), rejections


def _same(lines: list[str]) -> None:
    """parse_lines and parse_chunk (the same lines as one buffer) against the line-by-line parser."""
    expected, expected_rejections = _line_by_line(lines)
    for parse, data in ((alb.parse_lines, lines), (alb.parse_chunk, pa.py_buffer("".join(f"{x}\n" for x in lines).encode()))):
        rejections = Rejections()
        _same_rows(parse(data, "alb.log", rejections), expected)  # type: ignore[operator]
        assert rejections.counts == expected_rejections.counts


def _same_rows(by_column: pa.Table, expected: pa.Table) -> None:
    def rows(table: pa.Table) -> list[dict[str, Any]]:  # by value: the column path's rows come first
        return sorted((dict(sorted(r.items())) for r in table.to_pylist()), key=repr)

    assert rows(by_column) == rows(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(EDITS), max_size=3), min_size=1, max_size=12))
def test_edited_lines_parse_alike(edits: list[list[tuple[str, str]]]) -> None:
    lines = []
    for changes in edits:
        line = LINE
        for old, new in changes:
            line = line.replace(old, new)
        lines.append(line)
    _same([*lines, "", "   "])


def test_generated_logs_parse_alike_and_by_column(tmp_path: Path) -> None:
    generate(tmp_path, flows=10, requests=3000)
    lines = (tmp_path / "logs" / "alb.log").read_text().splitlines()
    _same(lines)
    assert alb.pc.match_substring_regex(pa.array(lines), alb._PLAIN_LINE).false_count == 0
    _, taken = alb._by_column(alb._plain_fields(pa.array(lines), None))
    assert taken.all()  # every generated line takes the column path
