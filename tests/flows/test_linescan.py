"""The C flow-log reader (``_linescan``) against independent judges: v6ops.addr for address codes,
the checked row path for whole reports, on random files and on every shape the reader must refuse."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.addr.strategies import ipv6_spellings
from v6ops.flows import encoded, rawscan
from v6ops.flows._linescan import Scanner
from v6ops.flows.analyses import Options
from v6ops.flows.duck import DuckEngine
from v6ops.flows.pipeline import build_report
from v6ops.flows.problems import Rejections
from v6ops.flows.sources import LocalFile
from v6ops.flows.vpc import DEFAULT_FORMAT, INT32_FIELDS, INT64_FIELDS

SECTIONS = ("summary", "adoption", "actions", "protocols", "address_types", "trends", "top_talkers", "inputs")
ADDRESS_ONLY = encoded.roles(("srcaddr", "dstaddr"))


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in SECTIONS}


def _codes_of(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reader's code of each text, v6ops.addr's expected code, and which texts v6ops.addr rejects."""
    scanner = Scanner(ADDRESS_ONLY, 60)
    scanner.feed("".join(f"{t} {t}\n" for t in texts).encode())
    table, _ = rawscan.address_table(encoded._strings(*scanner.texts(0)))
    invalid = np.array([v is None for v in table.column("family").to_pylist()])
    return np.frombuffer(scanner.codes(), np.uint8), rawscan.expected_codes(table), invalid


ipv4_texts = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v))),
    st.lists(st.sampled_from(["0", "00", "01", "1", "255", "256", "10", "999", ""]), min_size=3, max_size=5).map(".".join),
)
junk = st.text(alphabet="0123456789abcdefABCDEFg:.%", min_size=1, max_size=45)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(ipv6_spellings().map(lambda p: p[1]), ipv4_texts, junk), min_size=1, max_size=40))
def test_address_codes_agree_with_v6ops_addr(texts: list[str]) -> None:
    """Every text v6ops.addr takes gets its counted family (64 for NAT64) here; every other text is unknown."""
    codes, expected, invalid = _codes_of(texts)
    assert (codes[~invalid] == expected[~invalid]).all()
    assert (codes[invalid] == encoded.CODE_UNKNOWN).all()


def test_address_codes_of_the_special_prefixes() -> None:
    texts = ["::ffff:10.9.8.7", "::FFFF:0A09:0807", "0:0:0:0:0:ffff:a09:807", "64:ff9b::192.0.2.33", "64:FF9B::C000:221",
             "64:ff9b:1::1", "64:ff9b:2::1", "2001:db8::1", "10.0.0.1", "::", "1::", "::1.2.3.4"]
    codes, expected, invalid = _codes_of(texts)
    assert not invalid.any()
    assert codes.tolist() == expected.tolist() == [4, 4, 4, 64, 64, 64, 6, 6, 4, 6, 6, 6]


# ---- whole files: the reader's report against the row path's ----------------------------------

POOL = ["10.0.0.1", "10.0.0.2", "192.0.2.7", "2001:db8::1", "2001:DB8:0:0::1", "2001:db8:0:1::5", "fe80::1",
        "fd00::9", "::ffff:10.0.0.1", "::FFFF:A00:2", "64:ff9b::c000:207", "64:ff9b:1::a", "-"]
OPTIONAL = ["type", "pkt-srcaddr", "pkt-dstaddr", "tcp-flags", "vpc-id", "region", "traffic-path"]


def _value(field: str, draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return "-"
    if field in ("srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"):
        return draw(st.sampled_from(POOL))
    if field == "type":
        return draw(st.sampled_from(["IPv4", "IPv6", "EFA"]))
    if field == "action":
        return draw(st.sampled_from(["ACCEPT", "REJECT"]))
    if field == "log-status":
        return draw(st.sampled_from(["OK", "OK", "OK", "NODATA", "SKIPDATA"]))
    if field == "start":
        return str(draw(st.integers(1767571200, 1767571200 + 7200)))
    if field == "end":
        return str(draw(st.integers(1767571260, 1767571260 + 7200)))
    if field in INT32_FIELDS:
        return str(draw(st.integers(0, 2**31 - 1)))
    if field in INT64_FIELDS:
        return str(draw(st.integers(0, 10**12)))
    return draw(st.sampled_from(["acct-1", "eni-0a1b", "vpc-9", "us-east-1"]))


@st.composite
def flow_logs(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A custom-format log (any field order, some v3-v5 fields) with nulls, status rows and odd spellings."""
    extra = draw(st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=4))
    fields = draw(st.permutations([*DEFAULT_FORMAT, *extra]))
    rows = [[_value(f, draw) for f in fields] for _ in range(draw(st.integers(1, 60)))]
    return fields, rows


def _scanned_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = rawscan.scan_file

    def spy(engine: Any, raw: rawscan.RawVpcFile, name: str, fine_bin: int, detect: Any = None) -> rawscan.RawScan | None:
        scan = original(engine, raw, name, fine_bin, detect)
        if scan is not None:
            seen.append(raw.source.path.name)
        return scan

    monkeypatch.setattr(rawscan, "scan_file", spy)
    return seen


# Ways to spoil a line that the reader hands to the row path (which re-splits or rejects it).
SPOILERS = [lambda line: line.replace(" ", "  ", 1), lambda line: line.replace(" ", "\t", 1),
            lambda line: line + "\r", lambda line: line + " extra", lambda line: line.rsplit(" ", 1)[0]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(flow_logs(), st.lists(st.tuples(st.integers(0, 59), st.sampled_from(SPOILERS)), max_size=3))
def test_reader_matches_the_row_path_on_random_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     log: tuple[list[str], list[list[str]]],
                                                     spoiled: list[tuple[int, Any]]) -> None:
    fields, rows = log
    lines = [" ".join(r) for r in rows]
    # one spoiler a line: two can cancel out into a line of the right shape with a junk address,
    # which (as documented) sends the whole file to the row path
    for index, spoil in {index % len(lines): spoil for index, spoil in spoiled}.items():
        lines[index] = spoil(lines[index])
    text = tmp_path / "random.log"
    text.write_text(" ".join(fields) + "\n" + "".join(line + "\n" for line in lines))
    columns = {}
    for i, field in enumerate(fields):
        kind = pa.int32() if field in INT32_FIELDS else pa.int64() if field in INT64_FIELDS else pa.string()
        columns[field.replace("-", "_")] = pa.array([None if r[i] == "-" else r[i] for r in rows]).cast(kind)
    parquet = tmp_path / "random.parquet"
    pq.write_table(pa.table(columns), parquet, row_group_size=max(1, len(rows) // 3))
    with monkeypatch.context() as patch:
        seen = _scanned_names(patch)
        for path in (text, parquet):
            by_scan = build_report([str(path)], Options(bin_seconds=300))
            assert _comparable(by_scan) == _comparable(build_report([str(path)], Options(bin_seconds=300), scan_files=False))
    assert seen == ["random.log", "random.parquet"]


# ---- shapes the reader refuses: the row path reads them, with the same report -----------------

GOOD = "2 123456789010 eni-1 10.0.0.1 2001:db8::1 1 2 6 1 100 1767571200 1767571260 ACCEPT OK"
REFUSED = {
    "crlf": GOOD + "\r",
    "tab": GOOD.replace(" 6 ", "\t6 "),
    "utf-8 text": GOOD.replace("eni-1", "eni-é"),
    "int32 overflow": GOOD.replace(" 1 2 6 ", " 1 2147483648 6 "),
    "negative count": GOOD.replace(" 1 100 ", " -1 100 "),
    "leading space": " " + GOOD,
    "extra field": GOOD + " OK",
    "bad address": GOOD.replace("10.0.0.1", "10.0.0.256"),
}


@pytest.mark.parametrize("shape", sorted(REFUSED))
def test_lines_the_reader_refuses_go_to_the_row_path(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "x.log"
    path.write_text(f"{GOOD}\n{REFUSED[shape]}\n{GOOD}\n")
    raw = rawscan.sniff(LocalFile(path), None, Rejections())
    assert raw is not None
    scan = rawscan.scan_file(DuckEngine(), raw, "f")
    if shape == "bad address":
        assert scan is None  # only the address table finds it: the row path reads the file
    else:
        assert scan is not None and scan.records == 2 and scan.odd_lines == f"{REFUSED[shape]}\n".encode()
    assert _comparable(build_report([str(path)])) == _comparable(build_report([str(path)], scan_files=False))


def test_a_file_of_odd_lines_is_read_by_rows_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``ODD_LINES_LIMIT`` of lines for the row path, it reads the whole file instead."""
    monkeypatch.setattr(encoded, "ODD_LINES_LIMIT", 1000)
    path = tmp_path / "tabs.log"
    path.write_text("".join(REFUSED["tab"] + "\n" for _ in range(100)))
    raw = rawscan.sniff(LocalFile(path), None, Rejections())
    assert raw is not None and rawscan.scan_file(DuckEngine(), raw, "f") is None
    assert _comparable(build_report([str(path)])) == _comparable(build_report([str(path)], scan_files=False))


def test_more_labels_than_the_reader_keeps(tmp_path: Path) -> None:
    path = tmp_path / "labels.log"
    path.write_text("".join(GOOD.replace("ACCEPT", f"ACTION{i}") + "\n" for i in range(400)))
    raw = rawscan.sniff(LocalFile(path), None, Rejections())
    assert raw is not None and rawscan.scan_file(DuckEngine(), raw, "f") is None
    assert build_report([str(path)])["summary"]["flows"] == 400


def test_unterminated_last_line_header_only_and_empty_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = " ".join(DEFAULT_FORMAT)
    files = {"cut.log": f"{header}\n{GOOD}\n{GOOD}", "header.log": f"{header}\n", "blank-lines.log": f"{GOOD}\n\n{GOOD}\n\n"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    seen = _scanned_names(monkeypatch)
    for name in files:
        path = str(tmp_path / name)
        assert _comparable(build_report([path])) == _comparable(build_report([path], scan_files=False))
    assert sorted(seen) == sorted(files)
    assert build_report([str(tmp_path / "cut.log")])["summary"]["flows"] == 2


def test_blocks_split_between_scanners_add_up(tmp_path: Path) -> None:
    """A file larger than one chunk per scanner: every record counted once, pairs merged by address."""
    lines = [GOOD.replace("10.0.0.1", f"10.0.{i % 250}.{i % 7 + 1}") for i in range(200_000)]
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + "\n")
    raw = rawscan.sniff(LocalFile(path), None, Rejections())
    assert raw is not None
    file = rawscan.read_aggregates(raw, 60)
    assert file is not None and file.records == 200_000
    assert file.pairs.num_rows == len({line.split()[3] for line in lines})
    assert sum(file.pairs.column("flows").to_pylist()) == 200_000


def test_integer_past_its_type_is_a_counted_rejection(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text(f"{GOOD}\n{REFUSED['int32 overflow']}\n{GOOD.replace(' 100 ', ' 99999999999999999999 ')}\n")
    report = build_report([str(path)])
    assert report["summary"]["flows"] == 1
    reasons = {r["reason"]: r["count"] for r in report["inputs"]["by_reason"]}
    assert reasons == {"integer out of range in dstport": 1, "integer out of range in bytes": 1}


def test_small_read_buffers_split_lines_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines longer than a read buffer, and parts and buffers ending mid-line, are read whole."""
    monkeypatch.setattr(encoded, "CHUNK_BYTES", 64)
    lines = [GOOD.replace("10.0.0.1", f"10.0.{i}.1") for i in range(50)]
    path = tmp_path / "small.log"
    path.write_text(" ".join(DEFAULT_FORMAT) + "\n" + "\n".join(lines))  # no final newline either
    seen = _scanned_names(monkeypatch)
    assert _comparable(build_report([str(path)])) == _comparable(build_report([str(path)], scan_files=False))
    assert seen == ["small.log"] and build_report([str(path)])["summary"]["flows"] == 50
