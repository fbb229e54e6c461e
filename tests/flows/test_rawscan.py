"""Files the engine aggregates itself (rawscan) give exactly the report of the row-by-row path."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from v6ops.addr import Address
from v6ops.flows import rawscan
from v6ops.flows.analyses import Options
from v6ops.flows.duck import DuckEngine
from v6ops.flows.generate import BAD_LINES
from v6ops.flows.pipeline import build_report
from v6ops.flows.problems import Rejections
from v6ops.flows.sources import LocalFile
from v6ops.flows.vpc import INT32_FIELDS, INT64_FIELDS

# IPv4-mapped peers count as IPv4 and NAT64 destinations as class nat64: the rare texts the colon
# rule cannot decide, so these lines exercise the exception lookups of the scan's facts pass.
EXTRA_LINES = [
    "2 123456789010 eni-0a1b2c3d4e5f60001 ::ffff:10.9.8.7 52.94.0.10 1234 443 6 10 4000 1767571200 1767571260 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60001 ::FFFF:0A09:0807 52.94.0.10 1234 443 6 5 900 1767571260 1767571320 REJECT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60001 2001:db8::7 64:ff9b::c000:221 1234 443 6 3 300 1767571200 1767571260 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60001 2001:0DB8:0:0::7 64:ff9b::c000:221 1 443 6 3 300 1767571200 1767571260 ACCEPT OK",
]
SECTIONS = ("summary", "adoption", "actions", "protocols", "address_types", "trends", "top_talkers")


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in (*SECTIONS, "inputs")}


@pytest.fixture()
def clean_logs(tmp_path: Path, generated: tuple[Path, Any]) -> Path:
    """The generated v2 log without its corrupt lines, plus mapped/NAT64 lines; gzip and plain, and a v5 log
    without flow-direction (custom field order, type and pkt-srcaddr/pkt-dstaddr)."""
    lines = gzip.decompress((generated[0] / "vpc-default.log.gz").read_bytes()).decode().splitlines()
    kept = [line for line in lines if line not in BAD_LINES.values()] + EXTRA_LINES
    out = tmp_path / "clean"
    out.mkdir()
    (out / "v2.log").write_text("\n".join(kept) + "\n")
    with gzip.open(out / "v2.log.gz", "wt") as handle:
        handle.write("\n".join(kept) + "\n")
    custom = (generated[0] / "vpc-custom.log").read_text().splitlines()
    header = custom[0].split()
    drop = header.index("flow-direction")
    rows = [" ".join(t for i, t in enumerate(line.split()) if i != drop) for line in custom if "ingress" not in line]
    (out / "v5.log").write_text("\n".join(rows) + "\n")
    return out


def _scanned(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> list[rawscan.RawScan]:
    """The files the engine scanned itself during the next report."""
    seen: list[rawscan.RawScan] = []
    original = rawscan.scan_file

    def spy(engine: Any, raw: rawscan.RawVpcFile, name: str, fine_bin: int, detect: Any = None) -> rawscan.RawScan | None:
        scan = original(engine, raw, name, fine_bin, detect)
        if scan is not None:
            seen.append(scan)
        return scan

    monkeypatch.setattr(rawscan, "scan_file", spy)
    return seen


def test_scans_match_the_row_path(clean_logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(clean_logs.iterdir())
    seen = _scanned(files, monkeypatch)
    scanned = build_report([str(clean_logs)], Options(bin_seconds=600))
    assert sorted(s.raw.source.path.name for s in seen) == ["v2.log", "v2.log.gz", "v5.log"]
    assert not seen[0].canonical  # 2001:db8::7 written two ways: pairs are re-aggregated by value
    by_rows = build_report([str(clean_logs)], Options(bin_seconds=600), scan_files=False)
    assert _comparable(scanned) == _comparable(by_rows)
    assert scanned["adoption"]["flows"]["nat64"] > 0
    json.dumps(scanned)  # plain JSON numbers throughout (engine sums come back as decimals otherwise)
    # the trend bin is chosen from the span the scans report, as from rows
    assert _comparable(build_report([str(clean_logs)])) == _comparable(
        build_report([str(clean_logs)], scan_files=False))


def test_parquet_scan_matches_the_row_path(tmp_path: Path, clean_logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.csv as pacsv

    text = clean_logs / "v5.log"
    table = pacsv.read_csv(text, parse_options=pacsv.ParseOptions(delimiter=" "),
                           convert_options=pacsv.ConvertOptions(null_values=["-"], strings_can_be_null=True,
                                                                column_types={"type": pa.string()}))
    columns = {}
    for name in table.column_names:
        kind = pa.int32() if name in INT32_FIELDS else pa.int64() if name in INT64_FIELDS else pa.string()
        columns[name.replace("-", "_")] = table.column(name).cast(kind)
    pq.write_table(pa.table(columns), tmp_path / "v5.parquet", compression="gzip", row_group_size=500)
    seen = _scanned([tmp_path / "v5.parquet"], monkeypatch)
    scanned = build_report([str(tmp_path / "v5.parquet")], Options(bin_seconds=600))
    assert [s.raw.source.path.name for s in seen] == ["v5.parquet"]
    by_rows = build_report([str(tmp_path / "v5.parquet")], Options(bin_seconds=600), scan_files=False)
    assert _comparable(scanned) == _comparable(by_rows)
    assert scanned["inputs"]["files"][0]["format"] == "vpc-parquet"


def test_canonical_file_uses_its_pairs_as_conversations(tmp_path: Path, clean_logs: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def canonical(text: str) -> bool:
        return text == "-" or str(Address.parse(text)) == text

    lines = [line for line in (clean_logs / "v2.log").read_text().splitlines()
             if all(canonical(t) for t in line.split()[3:5])]
    (tmp_path / "canonical.log").write_text("\n".join(lines) + "\n")
    seen = _scanned([tmp_path / "canonical.log"], monkeypatch)
    scanned = build_report([str(tmp_path / "canonical.log")], Options(bin_seconds=600))
    assert len(seen) == 1 and seen[0].canonical  # one text per address: no re-aggregation by value
    assert _comparable(scanned) == _comparable(
        build_report([str(tmp_path / "canonical.log")], Options(bin_seconds=600), scan_files=False))


@pytest.mark.parametrize("bad", [*BAD_LINES.values(), "2 123456789010 eni-1 10.0.0.1  10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK"])
def test_a_rejected_line_goes_to_the_row_path(tmp_path: Path, bad: str) -> None:
    """The reader hands the row path the line it does not take (the whole file for a bad address)."""
    good = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1767571200 1767571260 ACCEPT OK"
    path = tmp_path / "x.log"
    path.write_text(f"{good}\n{bad}\n{good}\n")
    raw = rawscan.sniff(LocalFile(path), None, Rejections())
    assert raw is not None
    scan = rawscan.scan_file(DuckEngine(), raw, "f")
    if bad == BAD_LINES["invalid source address"]:
        assert scan is None  # only the address table finds it: the row path reads the file
    else:
        assert scan is not None and scan.records == 2 and scan.odd_lines == f"{bad}\n".encode()
    report = build_report([str(path)])
    assert report["summary"]["flows"] == 2 + (bad.count("  ") == 1)  # a doubled space is re-split, not lost
    assert report["inputs"]["rejected_lines"] == (0 if "  " in bad else 1)
    assert _comparable(report) == _comparable(build_report([str(path)], scan_files=False))


def test_truncated_gzip_and_flow_direction_are_not_scanned(tmp_path: Path, generated: tuple[Path, Any]) -> None:
    data = (generated[0] / "vpc-default.log.gz").read_bytes()
    (tmp_path / "cut.log.gz").write_bytes(data[: len(data) // 2])
    raw = rawscan.sniff(LocalFile(tmp_path / "cut.log.gz"), None, Rejections())
    assert raw is None or rawscan.scan_file(DuckEngine(), raw, "f") is None
    report = build_report([str(tmp_path / "cut.log.gz")])
    assert report["inputs"]["file_errors"] and "truncated" in report["inputs"]["file_errors"][0]["error"]
    assert rawscan.sniff(LocalFile(generated[0] / "vpc-custom.log"), None, Rejections()) is None
