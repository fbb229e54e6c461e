"""DuckDB and Spark (local[2]) run the same definitions: identical reports, alarms and detection events.

One SparkSession for the module; Spark passes over a corpus with every input kind (gzip with
rejected lines, a v5 custom file with flow-direction duplicates, ALB, pcap, planted attacks, odd
lines, and AWS Parquet and gzip text in the AWS and Hive partition layouts), read by the executors:
local paths as given, the same tree as a ``file://`` URL that Spark lists itself, and with big text
files split across tasks.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from v6ops.flows import spark as spark_engine
from v6ops.flows import sparkread
from v6ops.flows.analyses import Options
from v6ops.flows.attacks import INTERNET_ENI, LAB_PREFIX, plant
from v6ops.flows.detections import DetectionConfig, default_rules
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import build_report, detect_threats
from v6ops.flows.problems import FlowInputError
from v6ops.flows.vpc import INT32_FIELDS, INT64_FIELDS

pytestmark = [pytest.mark.slow, pytest.mark.requires("java")]  # pyspark is in the dev extra

MASTER = "local[2]"
# Every kind and both keys, fast and slow windows; fewer rules than the defaults: each is a few Spark jobs.
RULES = ("port-scan", "port-scan-slow", "address-scan-64", "address-scan-48", "high-volume", "volume-baseline",
         "high-rejection-rate", "suspicious-source")
CONFIG = DetectionConfig(rules=tuple(r for r in default_rules() if r.name in RULES), internet_facing=(INTERNET_ENI,),
                         exempt=(LAB_PREFIX,))


def _parquet(text: Path, out: Path) -> None:
    """The AWS Parquet delivery of a text file (INT_32/INT_64/STRING columns, underscores, gzip)."""
    table = pacsv.read_csv(text, parse_options=pacsv.ParseOptions(delimiter=" "),
                           convert_options=pacsv.ConvertOptions(null_values=["-"], strings_can_be_null=True,
                                                                column_types={"type": pa.string()}))
    columns = {}
    for name in table.column_names:
        kind = pa.int32() if name in INT32_FIELDS else pa.int64() if name in INT64_FIELDS else pa.string()
        columns[name.replace("-", "_")] = table.column(name).cast(kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), out, compression="gzip")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spark")
    generate(out, flows=800, requests=200)
    plant(out)
    logs = out / "logs"
    lines = (logs / "attacks.log").read_text().splitlines()
    (logs / "attacks.log").write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    second = out / "second-half.log"
    second.write_text(header + "\n" + "\n".join(lines[len(lines) // 2:]) + "\n")
    _parquet(second, logs / "AWSLogs" / "123456789012" / "vpcflowlogs" / "us-east-1" / "2026" / "01" / "05" / "a.parquet")
    (logs / "hive" / "year=2026" / "month=01").mkdir(parents=True)
    (logs / "hive" / "year=2026" / "month=01" / "b.parquet").write_bytes(
        (logs / "AWSLogs" / "123456789012" / "vpcflowlogs" / "us-east-1" / "2026" / "01" / "05" / "a.parquet").read_bytes())
    # gzip text in both layouts too (AWS delivers text as .log.gz), and a file of odd lines: bad integers and
    # addresses, short lines, blank lines, a CRLF line, split over several tasks in test_split_and_listed.
    day = logs / "AWSLogs" / "123456789012" / "vpcflowlogs" / "eu-west-1" / "2026" / "01" / "06"
    day.mkdir(parents=True)
    (day / "123456789012_vpcflowlogs_eu-west-1_fl-1_20260106T0000Z_abcd.log.gz").write_bytes(
        gzip.compress(second.read_bytes()))
    (logs / "hive" / "year=2026" / "month=02").mkdir(parents=True)
    (logs / "hive" / "year=2026" / "month=02" / "c.log.gz").write_bytes(gzip.compress(second.read_bytes()))
    odd = [header]
    for index, line in enumerate(lines[len(lines) // 2:]):
        fields = line.split()
        if index % 40 == 1:
            fields[6] = "http"
        elif index % 40 == 2:
            fields[3] = "2001:db8::zz"
        elif index % 40 == 3:
            fields = fields[:9]
        elif index % 40 == 4:
            fields[-1] += "\r"
        odd.append(" ".join(fields) + ("\n" if index % 40 == 5 else ""))
    (logs / "odd-lines.log").write_text("\n".join(odd) + "\n")
    return logs


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("engine", "timing_seconds")}


@pytest.fixture(scope="module")
def both(corpus: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    duck = build_report([str(corpus)], Options(top=5), detect=CONFIG)
    spark = build_report([str(corpus)], Options(top=5), detect=CONFIG, engine_name="spark", master=MASTER)
    return duck, spark


def test_identical_reports(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    duck, spark = both
    assert duck["engine"] == "duckdb" and spark["engine"] == "spark"
    assert duck["inputs"]["rejected_lines"] > 0  # the gzip file's bad lines, counted the same way
    formats = {f["format"] for f in duck["inputs"]["files"]}
    assert {"vpc-parquet", "vpc-flow-log", "alb", "pcap"} <= formats
    assert _comparable(duck) == _comparable(spark)


def test_identical_detection_events(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    duck, spark = both
    kinds = {e["kind"] for e in duck["detections"]}
    assert {"port_scan", "address_scan", "high_volume", "volume_baseline", "high_rejection_rate",
            "suspicious_source"} <= kinds
    assert duck["detections"] == spark["detections"]
    assert duck["alarms"] == spark["alarms"]


def test_cli_engine_choice(corpus: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from v6ops.cli.main import app

    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"name": "ports", "kind": "port_scan", "threshold": 50}]}')
    result = CliRunner().invoke(app, ["flows", "detect", str(corpus / "attacks.log"), "--rules", str(rules),
                                      "--engine", "spark", "--master", MASTER, "--json"])
    assert result.exit_code == 0, result.output
    assert '"engine": "spark"' in result.output and '"source": "2a0c:9a40:1::66"' in result.output
    result = CliRunner().invoke(app, ["flows", "detect", str(corpus / "alb.log"), "--engine", "flink"])
    assert result.exit_code == 2 and "unknown engine 'flink'" in result.output
    assert detect_threats([str(corpus / "alb.log")])["detections"] == []


def _named_as(report: dict[str, Any], url: str, path: Path) -> dict[str, Any]:
    """The report with the files Spark listed under ``url`` named by their local path (what DuckDB calls them)."""
    return _comparable(json.loads(json.dumps(report).replace(url, str(path))))


def test_split_and_listed(corpus: Path, both: tuple[dict[str, Any], dict[str, Any]],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Spark lists the tree itself (AWSLogs and Hive layouts, Parquet and gzip text) and splits big text files
    over tasks, each parsing its lines (headers dropped once, odd lines counted per reason): DuckDB's report."""
    duck, _ = both
    monkeypatch.setattr(sparkread, "SPLIT_BYTES", 32 << 10)  # the text files here are 100-130 KiB
    session = spark_engine.session(MASTER)
    previous = {k: session.conf.get(k) for k in ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")}
    session.conf.set("spark.sql.files.maxPartitionBytes", str(24 << 10))
    session.conf.set("spark.sql.files.openCostInBytes", "0")
    try:
        assert session.read.text(str(corpus / "odd-lines.log")).rdd.getNumPartitions() >= 2
        url = f"file://{corpus}"
        listed = build_report([url + "/"], Options(top=5), detect=CONFIG, engine_name="spark", master=MASTER)
        local = build_report([str(corpus)], Options(top=5), detect=CONFIG, engine_name="spark", master=MASTER)
    finally:
        for key, value in previous.items():
            session.conf.set(key, value)
    reasons = {r["reason"] for r in duck["inputs"]["by_reason"]}
    assert {"not an integer in dstport", "invalid source address", "expected 14 fields, found 9"} <= reasons
    names = {f["name"] for f in duck["inputs"]["files"]}
    assert str(corpus / "hive" / "year=2026" / "month=02" / "c.log.gz") in names
    assert any("/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/01/06/" in n for n in names)
    assert _named_as(listed, url, corpus) == _comparable(duck)
    assert _comparable(local) == _comparable(duck)  # local paths: expanded on the driver, split by Spark all the same


def test_files_hadoop_skips_are_file_errors(corpus: Path, tmp_path: Path) -> None:
    """Hadoop does not read files named _x or .x; a local one named on the command line is reported, not lost."""
    (tmp_path / "_underscore.log").write_bytes((corpus / "attacks.log").read_bytes())
    (tmp_path / "kept.log").write_bytes((corpus / "attacks.log").read_bytes())
    report = build_report([str(tmp_path)], engine_name="spark", master=MASTER)
    assert [f["name"] for f in report["inputs"]["files"]] == [str(tmp_path / "kept.log")]
    [error] = report["inputs"]["file_errors"]
    assert error["path"] == str(tmp_path / "_underscore.log") and "Spark did not read it" in error["error"]


def test_s3a_urls_and_settings() -> None:
    assert sparkread.spark_url("s3://bucket/AWSLogs/") == "s3a://bucket/AWSLogs/"
    assert sparkread.spark_url("s3a://bucket/x") == "s3a://bucket/x" and sparkread.spark_url("/data/x") == "/data/x"
    assert sparkread.report_name("s3a://bucket/AWSLogs/1/a.log.gz", "s3://bucket/AWSLogs/") == "s3://bucket/AWSLogs/1/a.log.gz"
    assert sparkread.report_name("s3a://bucket/a.log", "s3a://bucket/") == "s3a://bucket/a.log"
    assert sparkread.report_name("file:/tmp/x/a.log", "file:///tmp/x") == "file:///tmp/x/a.log"
    assert sparkread.s3a_settings({}) == {
        "fs.s3a.aws.credentials.provider": "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"}
    settings = sparkread.s3a_settings({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_DEFAULT_REGION": "eu-west-1",
                                       "AWS_SECRET_ACCESS_KEY": "never-copied"})
    assert settings["fs.s3a.endpoint"] == "http://127.0.0.1:9000" and settings["fs.s3a.path.style.access"] == "true"
    assert settings["fs.s3a.endpoint.region"] == "eu-west-1" and "never-copied" not in settings.values()
    session = spark_engine.session(MASTER)
    conf = session.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    conf.set("fs.s3a.endpoint.region", "us-east-2")  # as spark-submit --conf spark.hadoop.fs.s3a.* would
    try:
        applied = sparkread.configure_s3a(session, {"AWS_ENDPOINT_URL_S3": "http://minio:9000", "AWS_REGION": "eu-west-1"})
        assert conf.get("fs.s3a.endpoint") == "http://minio:9000" and "fs.s3a.endpoint" in applied
        assert conf.get("fs.s3a.endpoint.region") == "us-east-2"  # the job's own setting wins
    finally:
        for key in ("fs.s3a.endpoint", "fs.s3a.path.style.access", "fs.s3a.endpoint.region",
                    "fs.s3a.aws.credentials.provider"):
            conf.unset(key)


def test_s3a_without_hadoop_aws_names_the_jar() -> None:
    """No hadoop-aws jar here (and no network): reading s3:// says which package to add, for this Hadoop."""
    from typer.testing import CliRunner

    from v6ops.cli.main import app

    version = sparkread.hadoop_version(spark_engine.session(MASTER))
    with pytest.raises(FlowInputError, match=rf"s3://bucket/AWSLogs/: .*S3AFileSystem not found.*hadoop-aws:{version}"):
        build_report(["s3://bucket/AWSLogs/"], engine_name="spark", master=MASTER)
    result = CliRunner().invoke(app, ["flows", "report", "s3a://bucket/AWSLogs/", "--engine", "spark", "--master", MASTER])
    assert result.exit_code == 2 and f"--packages org.apache.hadoop:hadoop-aws:{version}" in result.output


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(FlowInputError, match="no such file, directory or prefix"):
        build_report([f"file://{tmp_path}/absent/"], engine_name="spark", master=MASTER)
