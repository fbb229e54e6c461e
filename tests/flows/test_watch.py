"""Follow mode: files arriving, a restart, a file still being written and a truncated gzip, each read once."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v6ops.events import MemorySink
from v6ops.flows.attacks import plant
from v6ops.flows.generate import generate
from v6ops.flows.pipeline import build_report
from v6ops.flows.watch import Watcher

SECTIONS = ("summary", "adoption", "actions", "protocols", "address_types", "trends", "top_talkers", "alb", "alarms",
            "metrics", "detections")
T0 = 1_800_000_000.0  # the watcher's "now" in these tests; file times are set relative to it


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("watched")
    generate(out, flows=800, requests=100)
    plant(out)
    return out / "logs"


def _arrive(src: Path, target: Path, name: str, at: float) -> Path:
    path = target / name
    shutil.copy(src / name, path)
    os.utime(path, (at, at))
    return path


def _batch(paths: list[Path], rules: Any) -> dict[str, Any]:
    return build_report([str(p) for p in paths], detect=rules)


def _same(report: dict[str, Any], batch: dict[str, Any]) -> None:
    for key in SECTIONS:
        assert report[key] == batch[key], key
    assert report["inputs"]["records_read"] == batch["inputs"]["records_read"]
    assert report["inputs"]["by_reason"] == batch["inputs"]["by_reason"]


def _poll_until_read(watcher: Watcher, now: float, expected: int) -> Any:
    read: list[str] = []
    result = None
    for step in range(4):
        result = watcher.poll(now + step)
        read += result.read
        if len(read) == expected:
            return result
    raise AssertionError(f"read {read}")


def test_files_arriving_and_a_restart(tmp_path: Path, source: Path) -> None:
    incoming, state, out = tmp_path / "in", tmp_path / "state", tmp_path / "out"
    incoming.mkdir()
    sink = MemorySink()
    watcher = Watcher(incoming, state, out, sink, settle=1)
    _arrive(source, incoming, "vpc-default.log.gz", T0 - 100)
    assert watcher.poll(T0).read == []  # first sight: not known to be complete yet
    first = watcher.poll(T0 + 1)
    assert first.read == [str(incoming / "vpc-default.log.gz")]
    _same(first.report, _batch([incoming / "vpc-default.log.gz"], watcher.config))
    assert watcher.poll(T0 + 2).read == []  # nothing new, nothing sent
    sent_before = len(sink.events)
    watcher.close()

    watcher = Watcher(incoming, state, out, sink, settle=1)  # a restart: the state says what was read
    for name in ("attacks.log", "vpc-custom.log"):
        _arrive(source, incoming, name, T0 - 50)
    result = _poll_until_read(watcher, T0 + 10, 2)
    assert [Path(p).name for p in result.read] == ["attacks.log", "vpc-custom.log"]  # name order
    paths = [incoming / n for n in ("attacks.log", "vpc-custom.log", "vpc-default.log.gz")]
    _same(result.report, _batch(paths, watcher.config))
    assert (out / "report.json").exists() and "v6ops_flows_watch_records" in (out / "watch.prom").read_text()
    detections = {e.event_id for e in sink.events[sent_before:] if e.source == "flows.detect"}
    assert detections == {d["detection_id"] for d in result.report["detections"]}
    assert any(e.event_type == "alarm_state_change" for e in sink.events)
    assert watcher.poll(T0 + 20).read == [] and watcher.poll(T0 + 21).events == 0
    watcher.close()


def test_a_file_still_being_written(tmp_path: Path, source: Path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    lines = (source / "attacks.log").read_bytes().splitlines(keepends=True)
    growing = incoming / "attacks.log"
    growing.write_bytes(b"".join(lines[:100]))
    os.utime(growing, (T0 - 10, T0 - 10))
    watcher = Watcher(incoming, tmp_path / "state", tmp_path / "out", settle=5)
    assert watcher.poll(T0).read == []
    progress = (tmp_path / "out" / "watch.prom").read_text()  # progress and lag even before anything was read
    assert "v6ops_flows_watch_pending_files 1.000" in progress
    assert "v6ops_flows_watch_oldest_pending_seconds 10.000" in progress
    with growing.open("ab") as handle:  # the writer goes on
        handle.write(b"".join(lines[100:]))
    os.utime(growing, (T0 + 1, T0 + 1))
    assert watcher.poll(T0 + 2).read == []  # it changed since the last poll
    assert watcher.poll(T0 + 3).read == []  # same size, but modified 2 s ago (settle 5 s)
    result = watcher.poll(T0 + 7)
    assert result.read == [str(growing)]
    assert result.report["inputs"]["records_read"] == len(lines)  # every line once
    progress = (tmp_path / "out" / "watch.prom").read_text()
    assert "v6ops_flows_watch_pending_files 0.000" in progress and "v6ops_flows_watch_read_delay_seconds 6.000" in progress
    assert f"v6ops_flows_watch_records {len(lines)}.000" in progress
    watcher.close()


def test_a_truncated_gzip(tmp_path: Path, source: Path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    whole = (source / "vpc-default.log.gz").read_bytes()
    path = incoming / "late.log.gz"
    path.write_bytes(whole[: len(whole) // 2])  # the upload is half done
    os.utime(path, (T0 - 10, T0 - 10))
    watcher = Watcher(incoming, tmp_path / "state", tmp_path / "out", settle=1, give_up=30)
    watcher.poll(T0)
    assert watcher.poll(T0 + 1).read == []  # ends early and may still complete: not read
    path.write_bytes(whole)
    os.utime(path, (T0 + 2, T0 + 2))
    result = _poll_until_read(watcher, T0 + 5, 1)
    batch = _batch([path], watcher.config)
    assert result.report["inputs"]["records_read"] == batch["inputs"]["records_read"]
    assert result.report["inputs"]["file_errors"] == []

    stuck = incoming / "stuck.log.gz"
    stuck.write_bytes(gzip.compress(b"".join((source / "attacks.log").read_bytes().splitlines(keepends=True)[:50]))[:-30])
    os.utime(stuck, (T0 - 100, T0 - 100))
    watcher.poll(T0 + 10)
    result = watcher.poll(T0 + 11)  # unchanged for longer than give_up: read once, with its error
    assert result.read == [str(stuck)]
    errors = result.report["inputs"]["file_errors"]
    assert len(errors) == 1 and errors[0]["path"] == str(stuck)
    kept = result.report["inputs"]["records_read"]
    assert watcher.poll(T0 + 12).read == [] and watcher.poll(T0 + 13).read == []  # never again
    assert kept >= batch["inputs"]["records_read"]
    watcher.close()


def test_cli_once(tmp_path: Path, source: Path) -> None:
    import json

    from typer.testing import CliRunner

    from v6ops.cli.main import app

    incoming = tmp_path / "in"
    incoming.mkdir()
    _arrive(source, incoming, "attacks.log", 1_000_000_000)  # written long ago: settled
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    args = ["flows", "watch", str(incoming), "--state", str(tmp_path / "s"), "--out", str(tmp_path / "o"),
            "--events", str(tmp_path / "e.jsonl"), "--syslog", f"udp://127.0.0.1:{receiver.getsockname()[1]}",
            "--once", "--settle", "0.2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.splitlines()[0])
    assert line["read"] == str(incoming / "attacks.log") and line["events_sent"] > 0
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == line["events_sent"]
    datagrams = [receiver.recv(65536) for _ in range(line["events_sent"])]  # every event to the syslog sink too
    receiver.close()
    assert all(b"CEF:0|" in d for d in datagrams)
    again = CliRunner().invoke(app, args)  # restarted: nothing new
    assert again.exit_code == 0 and again.output == ""
    missing = CliRunner().invoke(app, ["flows", "watch", str(tmp_path / "nope"), "--state", str(tmp_path / "s2"),
                                       "--out", str(tmp_path / "o2"), "--once"])
    assert missing.exit_code == 2 and "not a directory" in missing.output
    bad = CliRunner().invoke(app, [*args[:3], "--state", str(tmp_path / "s3"), "--out", str(tmp_path / "o3"),
                                   "--syslog", "http://127.0.0.1:514", "--once"])
    assert bad.exit_code == 2 and "is not udp://, tcp:// or tls://" in bad.output


def _attack_parts(source: Path, target: Path, pieces: int) -> list[str]:
    """attacks.log (default format, no header, in time order) cut into ``pieces`` files, written to ``target``."""
    lines = (source / "attacks.log").read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // pieces)
    names = []
    for index in range(pieces):
        name = f"attacks-{index}.log"
        (target / name).write_bytes(b"".join(lines[index * size:(index + 1) * size]))
        names.append(name)
    return names


@pytest.mark.parametrize("backwards", [False, True], ids=["in-time-order", "late-data-first"])
def test_polls_one_file_at_a_time_equal_a_batch_run(tmp_path: Path, source: Path, backwards: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    staging, incoming = tmp_path / "staging", tmp_path / "in"
    staging.mkdir()
    incoming.mkdir()
    for name in ("vpc-default.log.gz", "alb.log", "capture.pcap", "vpc-custom.log"):
        shutil.copy(source / name, staging / name)
    parts = _attack_parts(source, staging, 5)
    order = [*(parts[::-1] if backwards else parts), "alb.log", "vpc-default.log.gz", "capture.pcap"]
    order.insert(3, "vpc-custom.log")  # flow-direction records: a poll that recomputes from the stored rows
    recomputes: list[int] = []
    recompute = Watcher._recompute
    monkeypatch.setattr(Watcher, "_recompute", lambda self: (recomputes.append(1), recompute(self))[1])
    sink = MemorySink()
    watcher = Watcher(incoming, tmp_path / "state", tmp_path / "out", sink, settle=0)
    arrived: list[Path] = []
    for step, name in enumerate(order):  # named so that name order is arrival order
        path = _arrive(staging, incoming, name, T0 - 100)
        path = path.rename(incoming / f"{step:02d}-{name}")
        arrived.append(path)
        result = _poll_until_read(watcher, T0 + 10 * step, 1)
        _same(result.report, _batch(arrived, watcher.config))
    watcher.close()
    assert len(recomputes) == 2  # the first update and the poll that read flow-direction records; the rest added
    latest = {e.event_id: e.details for e in sink.events}
    for detection in result.report["detections"]:  # each as it stands at the end was sent, last with that evidence
        details = latest[detection["detection_id"]]
        assert (details["windows"], details["peak"], details["last_seen"]) == (
            detection["windows"], detection["peak"], detection["last_seen"])
    sent = [(e.event_id, json.dumps(e.details, sort_keys=True, default=str)) for e in sink.events]
    assert len(sent) == len(set(sent))  # an event is sent again only when its evidence changed


def test_affected_windows_cover_every_window_a_row_is_in() -> None:
    from v6ops.flows.detections import Rule
    from v6ops.flows.watch import affected_windows, rows_needed

    sliding = Rule(name="s", kind="port_scan", window=3600, slide=300, threshold=1)
    windows = affected_windows(sliding, [7200])
    assert windows == {7200 - j * 300 for j in range(12)}
    assert rows_needed(sliding, windows) == ((7200 - 11 * 300, 7200 + 3600),)
    baseline = Rule(name="b", kind="volume_baseline", window=300, threshold=2, history=3)
    assert affected_windows(baseline, [600]) == {600, 900, 1200, 1500}  # the windows judged against it too
    assert rows_needed(baseline, {600, 3000}) == ((600 - 900, 900), (3000 - 900, 3300))


def test_a_file_changed_after_it_was_read_is_reported_once(tmp_path: Path, source: Path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    path = _arrive(source, incoming, "attacks.log", T0 - 100)
    watcher = Watcher(incoming, tmp_path / "state", tmp_path / "out", settle=1)
    first = _poll_until_read(watcher, T0, 1)
    records = first.report["inputs"]["records_read"]
    with path.open("ab") as handle:
        handle.write((source / "attacks.log").read_bytes().splitlines(keepends=True)[0])
    os.utime(path, (T0 + 5, T0 + 5))
    changed = watcher.poll(T0 + 10)
    assert changed.read == [] and changed.changed == [str(path)]
    assert changed.report["inputs"]["records_read"] == records  # not read again: nothing counted twice
    assert any("changed after it was read" in e["error"] for e in changed.report["inputs"]["file_errors"])
    assert watcher.poll(T0 + 11).changed == []  # reported once per new version
    assert 'v6ops_flows_watch_files{outcome="changed_after_read"} 1.000' in (tmp_path / "out" / "watch.prom").read_text()
    watcher.close()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_cut_and_arrival_order_gives_the_batch_result(source: Path, data: st.DataObject) -> None:
    """The same lines cut into other files, arriving in any order (late data included): the batch report."""
    lines = (source / "attacks.log").read_bytes().splitlines(keepends=True)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(lines) - 1), min_size=1, max_size=4), label="cuts"))
    pieces = [lines[a:b] for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    order = data.draw(st.permutations(range(len(pieces))), label="arrival order")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        incoming = root / "in"
        incoming.mkdir()
        watcher = Watcher(incoming, root / "state", root / "out", settle=0)
        arrived = []
        for step, index in enumerate(order):
            path = incoming / f"{step:02d}-part-{index}.log"
            path.write_bytes(b"".join(pieces[index]))
            os.utime(path, (T0 - 100, T0 - 100))
            arrived.append(path)
            result = _poll_until_read(watcher, T0 + 10 * step, 1)
        watcher.close()
        _same(result.report, _batch(arrived, watcher.config))


def test_late_data_changes_the_baseline_of_later_windows(tmp_path: Path) -> None:
    """A window's late rows change the baseline of the windows after it: their verdict is recomputed too."""
    from v6ops.flows.detections import DetectionConfig, Rule

    rule = Rule(name="baseline", kind="volume_baseline", window=300, threshold=2, history=3, min_history=3, floor=0)
    config = DetectionConfig(rules=(rule,))
    base = 1_767_571_200

    def lines(volumes: dict[int, int]) -> bytes:
        return b"".join(f"2 123456789010 eni-1 2001:db8::1 2001:db8::2 40000 443 6 1 {v} {base + w * 300} "
                        f"{base + w * 300 + 10} ACCEPT OK\n".encode() for w, v in volumes.items())

    incoming = tmp_path / "in"
    incoming.mkdir()
    first, late = incoming / "a.log", incoming / "b.log"
    first.write_bytes(lines({1: 100, 2: 100, 3: 100, 4: 1000}))  # 1000 > 2 x mean(100, 100, 100): a spike
    os.utime(first, (T0 - 100, T0 - 100))
    watcher = Watcher(incoming, tmp_path / "state", tmp_path / "out", config=config, settle=0)
    before = _poll_until_read(watcher, T0, 1).report
    assert [d["peak_window"] for d in before["detections"]] == [_iso(base + 4 * 300)]
    late.write_bytes(lines({2: 2000}))  # window 2 was busier: window 4 is no spike against (100 + 2100 + 100) / 3
    os.utime(late, (T0 - 100, T0 - 100))
    after = _poll_until_read(watcher, T0 + 10, 1).report
    watcher.close()
    batch = _batch([first, late], config)
    assert after["detections"] == batch["detections"] and not any(
        d["peak_window"] == _iso(base + 4 * 300) for d in after["detections"])


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
