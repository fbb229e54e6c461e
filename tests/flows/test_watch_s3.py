"""Follow mode on s3://bucket/prefix against moto on loopback: pages, arrivals, a restart, a truncated gzip, a rewrite."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.flows.test_watch import T0, _batch, _same
from v6ops.events import MemorySink
from v6ops.flows.attacks import plant
from v6ops.flows.generate import generate
from v6ops.flows.watch import Watcher

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

BUCKET = "flow-logs"
PREFIX = "AWSLogs/123456789010/vpcflowlogs/us-east-1/2026/01/05/"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("s3-watched")
    generate(out, flows=800, requests=100)
    plant(out)
    lines = (out / "logs" / "attacks.log").read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // 6)
    for index in range(6):  # six time-ordered pieces: more objects than a page holds
        (out / "logs" / f"attacks-{index}.log").write_bytes(b"".join(lines[index * size:(index + 1) * size]))
    return out / "logs"


def _client(endpoint: str, bucket: str) -> Any:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    client.create_bucket(Bucket=bucket)
    return client


def _put(client: Any, bucket: str, key: str, body: bytes, local: Path) -> Path:
    """The object, and a local copy of the same bytes for the batch run to compare with."""
    client.put_object(Bucket=bucket, Key=PREFIX + key, Body=body)
    local.mkdir(exist_ok=True)
    (local / key).write_bytes(body)
    return local / key


def test_s3_prefix_pages_arrivals_restart_truncated_gzip_and_rewrite(tmp_path: Path, logs: Path, endpoint: str) -> None:
    client = _client(endpoint, "watch-one")
    listings: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.s3.ListObjectsV2", lambda params, **_: listings.append(dict(params)))
    local, state, out = tmp_path / "copies", tmp_path / "state", tmp_path / "out"
    url = f"s3://watch-one/{PREFIX}"
    client.put_object(Bucket="watch-one", Key="other/attacks-0.log", Body=(logs / "attacks-0.log").read_bytes())
    copies = [_put(client, "watch-one", f"attacks-{i}.log", (logs / f"attacks-{i}.log").read_bytes(), local)
              for i in range(3)]
    sink = MemorySink()
    watcher = Watcher(url, state, out, sink, s3_client=client, page_size=2)
    first = watcher.poll(T0)  # an object is whole once listed: read at first sight, in key order
    assert first.read == [f"{url}attacks-{i}.log" for i in range(3)]
    assert len(listings) == 2 and "ContinuationToken" in listings[1] and listings[0]["MaxKeys"] == 2
    _same(first.report, _batch(copies, watcher.config))

    copies += [_put(client, "watch-one", f"attacks-{i}.log", (logs / f"attacks-{i}.log").read_bytes(), local)
               for i in (3, 4)]
    added = watcher.poll(T0 + 1)  # objects added between polls: only they are read
    assert added.read == [f"{url}attacks-3.log", f"{url}attacks-4.log"]
    _same(added.report, _batch(copies, watcher.config))
    assert watcher.poll(T0 + 2).read == []
    watcher.close()

    whole = (logs / "vpc-default.log.gz").read_bytes()
    truncated = _put(client, "watch-one", "late.log.gz", whole[: len(whole) // 2], local)
    copies += [_put(client, "watch-one", "attacks-5.log", (logs / "attacks-5.log").read_bytes(), local), truncated]
    watcher = Watcher(url, state, out, sink, s3_client=client, page_size=2)  # a restart in the middle
    resumed = watcher.poll(T0 + 3)
    assert resumed.read == [f"{url}attacks-5.log", f"{url}late.log.gz"]  # nothing read twice, nothing skipped
    _same(resumed.report, _batch(copies, watcher.config))
    errors = resumed.report["inputs"]["file_errors"]
    assert [e["path"] for e in errors] == [f"{url}late.log.gz"] and "truncated" in errors[0]["error"]
    records = resumed.report["inputs"]["records_read"]
    assert records == sum(f["records"] for f in resumed.report["inputs"]["files"]) > 0

    client.put_object(Bucket="watch-one", Key=PREFIX + "late.log.gz", Body=whole)  # rewritten: a new ETag
    rewritten = watcher.poll(T0 + 4)
    assert rewritten.read == [] and rewritten.changed == [f"{url}late.log.gz"]
    assert rewritten.report["inputs"]["records_read"] == records  # the new version is not counted on top
    assert any("changed after it was read (ETag" in e["error"] for e in rewritten.report["inputs"]["file_errors"])
    assert watcher.poll(T0 + 5).changed == []  # reported once
    watcher.close()

    sent = [(e.event_id, json.dumps(e.details, sort_keys=True, default=str)) for e in sink.events]
    assert len(sent) == len(set(sent)) and any(e.source == "flows.detect" for e in sink.events)
    progress = (out / "watch.prom").read_text()
    assert "v6ops_flows_watch_read_delay_seconds" in progress and 'outcome="file_error"} 1.000' in progress


def test_cli_watches_an_s3_prefix(tmp_path: Path, logs: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from v6ops.cli.main import app

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    client = _client(endpoint, "watch-cli")
    client.put_object(Bucket="watch-cli", Key=PREFIX + "attacks.log", Body=(logs / "attacks.log").read_bytes())
    client.put_object(Bucket="watch-cli", Key=PREFIX + "broken.log.gz",
                      Body=gzip.compress((logs / "attacks-0.log").read_bytes())[:-40])
    args = ["flows", "watch", f"s3://watch-cli/{PREFIX}", "--endpoint-url", endpoint, "--state", str(tmp_path / "s"),
            "--out", str(tmp_path / "o"), "--events", str(tmp_path / "e.jsonl"), "--once", "--settle", "0", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["read"] for line in lines] == [f"s3://watch-cli/{PREFIX}attacks.log", f"s3://watch-cli/{PREFIX}broken.log.gz"]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["inputs"]["file_errors"][0]["path"].endswith("broken.log.gz")
    again = CliRunner().invoke(app, args)  # restarted: nothing new
    assert again.exit_code == 0 and again.output == ""
    missing = CliRunner().invoke(app, [*args[:2], "s3://no-such-bucket/x/", *args[3:]])
    assert missing.exit_code == 2 and "no-such-bucket" in missing.output and "NoSuchBucket" in missing.output
    local = CliRunner().invoke(app, ["flows", "watch", str(tmp_path), "--endpoint-url", endpoint, "--state",
                                     str(tmp_path / "s3"), "--out", str(tmp_path / "o3"), "--once"])
    assert local.exit_code == 2 and "--endpoint-url is for an s3://" in local.output


def test_not_an_s3_url() -> None:
    from v6ops.flows.problems import FlowInputError
    from v6ops.flows.sources import list_s3

    with pytest.raises(FlowInputError, match="not an s3://bucket/prefix URL"):
        list_s3("s3:///prefix-without-bucket", client=object())
