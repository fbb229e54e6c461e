"""DuckDB and Spark (local[2]) run the same definitions: identical reports, alarms and detection events.

One SparkSession for the module; one Spark pass over a corpus with every input kind (gzip with
rejected lines, a v5 custom file with flow-direction duplicates, ALB, pcap, planted attacks, and
AWS Parquet in the AWS and Hive partition layouts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from v6ops.flows.analyses import Options
from v6ops.flows.attacks import INTERNET_ENI, LAB_PREFIX, plant
from v6ops.flows.detections import DetectionConfig, default_rules
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import build_report, detect_threats
from v6ops.flows.vpc import INT32_FIELDS, INT64_FIELDS

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

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
