"""Every input shape: gzip (whole and truncated), Parquet delivery, S3, pcapng, odd lines, odd formats."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import boto3
import dpkt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from v6ops.flows.analyses import Options
from v6ops.flows.ingest import read_table
from v6ops.flows.pipeline import build_report
from v6ops.flows.problems import FlowInputError
from v6ops.flows.vpc import INT32_FIELDS, INT64_FIELDS, parse_format

LINE = "2 123456789010 eni-1 {src} 2600:1f18:64::10 40000 443 6 10 {bytes} 1767571200 1767571260 ACCEPT OK"


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("summary", "adoption", "actions", "protocols", "trends", "top_talkers")}


def test_same_address_three_ways_is_one_talker(tmp_path: Path) -> None:
    spellings = ["2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::0001"]
    text = "\n".join(LINE.format(src=s, bytes=1000) for s in spellings) + "\n"
    (tmp_path / "three.log").write_text(text)
    report = build_report([str(tmp_path / "three.log")])
    top = report["top_talkers"]["source"]["address"]
    assert top == [{"key": "2001:db8::1", "family": 6, "flows": 3, "packets": 30, "bytes": 3000}]


def test_truncated_gzip_is_a_file_error_and_keeps_other_files(tmp_path: Path) -> None:
    lines = "".join(LINE.format(src=f"2001:db8::{i:x}", bytes=i + 1) + "\n" for i in range(20000))
    whole = gzip.compress(lines.encode())
    (tmp_path / "cut.log.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "ok.log.gz").write_bytes(gzip.compress(lines[:2000].encode()))
    table, ingest = read_table([str(tmp_path)])
    errors = ingest.rejections.file_errors
    assert len(errors) == 1 and errors[0]["path"].endswith("cut.log.gz")
    assert "truncated or corrupt" in errors[0]["error"]
    assert table.num_rows >= lines[:2000].count("\n")


def test_unknown_custom_field_is_carried_and_noted(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("version srcaddr dstaddr bytes shiny-new-field\n2 10.0.0.1 10.0.0.2 100 yes\n")
    table, ingest = read_table([str(tmp_path / "x.log")])
    assert table.column("shiny_new_field").to_pylist() == ["yes"]
    assert ingest.rejections.notes == ["unknown flow log field(s) carried as text: shiny-new-field"]


@pytest.mark.parametrize("bad", ["${srcaddr} ${dstaddr", "srcaddr srcaddr", "srcaddr dst/addr", ""])
def test_bad_format_strings_are_clear_errors(bad: str) -> None:
    with pytest.raises(FlowInputError, match="flow log format"):
        parse_format(bad)


def test_format_option_for_headerless_custom_logs(tmp_path: Path) -> None:
    (tmp_path / "h.log").write_text("10.0.0.1 2001:db8::2 600 ACCEPT\n")
    table, ingest = read_table([str(tmp_path / "h.log")], vpc_format="${srcaddr} ${dstaddr} ${bytes} ${action}")
    assert ingest.rejections.total == 0
    assert table.column("bytes").to_pylist() == [600] and table.column("family").to_pylist() == [4]


def test_headerless_unknown_layout_is_a_file_error(tmp_path: Path) -> None:
    (tmp_path / "odd.log").write_text("1 2 3\n")
    _, ingest = read_table([str(tmp_path / "odd.log")])
    assert "pass the custom format with --format" in ingest.rejections.file_errors[0]["error"]


def test_non_utf8_and_garbage_lines_are_counted(tmp_path: Path) -> None:
    good = LINE.format(src="10.0.0.1", bytes=5)
    data = (good + "\n").encode() + b"2 1 eni \xff\xfe 10.0.0.2 1 2 6 1 1 1 1 ACCEPT OK\n" + b"garbage\n"
    (tmp_path / "mixed.log").write_bytes(data)
    table, ingest = read_table([str(tmp_path / "mixed.log")])
    assert table.num_rows == 1
    assert ingest.rejections.total == 2
    assert set(ingest.rejections.counts) == {"invalid source address", "expected 14 fields, found 1"}


def _aws_parquet(table: pa.Table, path: Path) -> None:
    """As AWS delivers it: underscores in names, INT_32/INT_64/STRING, gzip compression."""
    columns = {}
    for name in table.column_names:
        kind = pa.int32() if name in INT32_FIELDS else pa.int64() if name in INT64_FIELDS else pa.string()
        columns[name.replace("-", "_")] = table.column(name).cast(kind)
    pq.write_table(pa.table(columns), path, compression="gzip")


def test_parquet_delivery_gives_the_same_report_as_text(tmp_path: Path, generated: tuple[Path, Any]) -> None:
    import pyarrow.csv as pacsv

    text_file = generated[0] / "vpc-custom.log"
    raw = pacsv.read_csv(text_file, parse_options=pacsv.ParseOptions(delimiter=" "),
                         convert_options=pacsv.ConvertOptions(null_values=["-"], strings_can_be_null=True,
                                                              column_types={"type": pa.string()}))
    _aws_parquet(raw, tmp_path / "part-0.parquet")
    schema = pq.read_schema(tmp_path / "part-0.parquet")
    assert schema.field("srcport").type == pa.int32() and schema.field("bytes").type == pa.int64()
    from_parquet = build_report([str(tmp_path / "part-0.parquet")], Options(bin_seconds=600))
    from_text = build_report([str(text_file)], Options(bin_seconds=600))
    assert _comparable(from_parquet) == _comparable(from_text)
    assert from_parquet["inputs"]["files"][0]["format"] == "vpc-parquet"


def test_s3_prefix_and_glob_with_moto(generated: tuple[Path, Any]) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="flow-logs")
        key = "AWSLogs/123456789010/vpcflowlogs/us-east-1/2026/01/05/"
        for name in ("vpc-default.log.gz", "vpc-custom.log"):
            s3.put_object(Bucket="flow-logs", Key=key + name, Body=(generated[0] / name).read_bytes())
        s3.put_object(Bucket="flow-logs", Key="other/ignored.log", Body=b"junk\n")
        from_s3 = build_report(["s3://flow-logs/AWSLogs/"], Options(bin_seconds=600), s3_client=s3)
        globbed = build_report(["s3://flow-logs/AWSLogs/*/vpc-custom.log"], Options(bin_seconds=600), s3_client=s3)
        with pytest.raises(FlowInputError, match="no objects"):
            build_report(["s3://flow-logs/nothing/"], s3_client=s3)
    local = build_report([str(generated[0] / n) for n in ("vpc-default.log.gz", "vpc-custom.log")],
                         Options(bin_seconds=600))
    assert _comparable(from_s3) == _comparable(local)
    assert len(globbed["inputs"]["files"]) == 1


def test_pcapng_is_summarized_into_flows(tmp_path: Path) -> None:
    path = tmp_path / "c.pcapng"
    with path.open("wb") as handle:
        writer = dpkt.pcapng.Writer(handle)
        for i in range(5):
            udp = dpkt.udp.UDP(sport=5000, dport=53, data=b"q" * 20)
            udp.ulen = 28
            ip = dpkt.ip6.IP6(src=bytes.fromhex("2a0104f8c0c100000000000000000001"), dst=bytes(15) + b"\x01",
                              nxt=17, hlim=64, data=udp)
            ip.plen = 28
            frame = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP6, data=ip)
            writer.writepkt(bytes(frame), ts=1767571200 + i)
        writer.writepkt(b"\x00" * 10, ts=1767571300)  # a runt frame: counted, not fatal
    table, ingest = read_table([str(path)])
    rows = table.to_pylist()
    assert len(rows) == 1
    assert rows[0]["packets"] == 5 and rows[0]["bytes"] == 5 * 68 and rows[0]["protocol"] == 17
    assert rows[0]["dst_kind"] == "loopback" and rows[0]["src_port"] == 5000
    assert (rows[0]["end"] - rows[0]["start"]).total_seconds() == 4
    assert ingest.rejections.total == 1


def test_local_globs_and_directories(tmp_path: Path) -> None:
    for day in ("01", "02"):
        folder = tmp_path / "AWSLogs" / "2026" / "01" / day
        folder.mkdir(parents=True)
        (folder / "a.log").write_text(LINE.format(src="10.0.0.1", bytes=1) + "\n")
        (folder / "notes.md").write_text("# not a log\n")
    table, ingest = read_table([str(tmp_path / "AWSLogs" / "**" / "*.log")])
    assert table.num_rows == 2 and ingest.rejections.file_errors == []
    _, ingest = read_table([str(tmp_path / "AWSLogs")])
    assert len(ingest.rejections.file_errors) == 2  # the .md files are named, not skipped silently
    with pytest.raises(FlowInputError, match="matches no file"):
        read_table([str(tmp_path / "*.gz")])


V5_HEADER = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action " \
    "log-status flow-direction"


def _v5(eni: str, start: int, direction: str) -> str:
    return f"5 {eni} 2001:db8::1 2001:db8::2 40000 443 6 10 1000 {start} {start + 60} ACCEPT OK {direction}"


@pytest.mark.parametrize(("second", "dropped"), [
    (_v5("eni-b", 1767571210, "ingress"), 1),  # the other end's ENI, 10 s later: the same conversation
    (_v5("eni-a", 1767571210, "ingress"), 0),  # the same ENI: a different record, kept
    (_v5("eni-b", 1767571300, "ingress"), 0),  # more than 60 s apart: kept
    (_v5("eni-b", 1767571210, "egress"), 0),  # two egress records: kept
])
def test_flow_direction_deduplication_rule(tmp_path: Path, second: str, dropped: int) -> None:
    (tmp_path / "v5.log").write_text("\n".join([V5_HEADER, _v5("eni-a", 1767571200, "egress"), second]) + "\n")
    report = build_report([str(tmp_path / "v5.log")])
    assert report["summary"]["duplicates_removed"] == dropped
    assert report["summary"]["flows"] == 2 - dropped


def test_chunking_keeps_every_line(tmp_path: Path) -> None:
    from v6ops.flows.sources import file_chunks

    lines = [f"line {i} " + "x" * (i % 97) for i in range(5000)] + ["y" * 3000]
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(lines))  # no final newline
    seen: list[str] = []
    for chunk in file_chunks(path, None, chunk_bytes=1024):
        seen += chunk.to_pybytes().decode().splitlines()
    assert seen == lines
