import json
import threading
from datetime import UTC, datetime

import pytest

from v6ops.events import EventValueError, SecurityEvent
from v6ops.events.jsonl import JsonLinesSink
from v6ops.events.outbox import BufferConfig, DeliveryError, Outbox, RetryPolicy, spool_folders


def ev(n):
    return SecurityEvent(timestamp=datetime(2026, 1, 1, tzinfo=UTC), event_id=f"e{n}", vm_id="v",
                         event_type="unknown", severity="info")


def test_jsonl_sink_appends_readable_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = JsonLinesSink(path, fsync=True)
    for n in range(3):
        sink.emit(ev(n))
    sink.flush()
    assert [SecurityEvent.from_json(x).event_id for x in path.read_text().splitlines()] == ["e0", "e1", "e2"]
    sink.close()
    JsonLinesSink(path).close()  # reopening appends, never truncates
    assert len(path.read_text().splitlines()) == 3
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(EventValueError, match="cannot be opened"):
        JsonLinesSink(tmp_path / "missing" / "x.jsonl")


def test_retry_delays_follow_the_seed():
    assert RetryPolicy().delays() == [5.0, 10.0, 20.0]
    assert RetryPolicy(max_retries=6).delays() == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    with pytest.raises(EventValueError, match="multiplier"):
        RetryPolicy(backoff_multiplier=0.5)
    with pytest.raises(EventValueError, match="drop_oldest"):
        BufferConfig(overflow_policy="block")


class Receiver:
    def __init__(self):
        self.up = True
        self.got = []
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        if not self.up:
            raise DeliveryError("down")
        self.got.extend(batch)


def test_torn_spool_tail_is_cut_and_the_rest_resumed(tmp_path):
    rx = Receiver()
    rx.up = False
    box = Outbox(rx, buffer=BufferConfig(max_buffer_size=10, batch_size=5, flush_interval=3600),
                 retry=RetryPolicy(max_retries=0), spool_dir=tmp_path)
    for n in range(4):
        box.put(json.dumps({"n": n}).encode())
    box.close()
    with open(box.spool.path, "ab") as fh:  # a crash in the middle of a write
        fh.write(b'{"n": 4')
    rx.up = True
    from v6ops.events.outbox import spool_backlog

    assert spool_backlog(tmp_path).pending == 4  # the torn line is not a record
    box = Outbox(rx, buffer=BufferConfig(max_buffer_size=10, batch_size=5, flush_interval=3600), spool_dir=tmp_path)
    box.put(b'{"n": 5}')
    assert box.flush()
    assert [json.loads(x)["n"] for x in rx.got] == [0, 1, 2, 3, 5]
    box.close()
    assert spool_folders(tmp_path) == []  # fully delivered: the adopted folder and the new one are gone


def test_concurrent_producers_count_exactly(tmp_path):
    rx = Receiver()
    rx.up = False
    box = Outbox(rx, buffer=BufferConfig(max_buffer_size=1000, batch_size=50, flush_interval=3600),
                 retry=RetryPolicy(max_retries=0), spool_dir=tmp_path)

    def produce(k):
        for n in range(1000):
            box.put(f"{k}-{n}".encode())

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert box.dropped == 3000 and box.pending == 1000
    rx.up = True
    assert box.flush()
    assert len(rx.got) == 1000 and box.dropped == 3000
    box.close()


def test_records_with_newlines_are_refused(tmp_path):
    box = Outbox(Receiver(), spool_dir=tmp_path)
    with pytest.raises(EventValueError, match="newline"):
        box.put(b"a\nb")
    box.close()


def test_spool_is_compacted_while_delivering_and_resumes_after_it(tmp_path):
    class FailsAfter:
        def __init__(self, ok_calls):
            self.ok_calls, self.got = ok_calls, []

        def __call__(self, batch):
            if self.ok_calls <= 0:
                raise DeliveryError("down")
            self.ok_calls -= 1
            self.got.extend(batch)

    rx = FailsAfter(0)  # down while the records are queued, so every batch below is a full one
    cfg = BufferConfig(max_buffer_size=100, batch_size=5, flush_interval=3600)
    box = Outbox(rx, buffer=cfg, retry=RetryPolicy(max_retries=0), spool_dir=tmp_path, compact_bytes=60)
    records = [json.dumps({"n": n}).encode() for n in range(30)]  # 9-10 bytes each: a batch passes 60 bytes
    for r in records:
        box.put(r)
    rx.ok_calls = 3
    assert not box.flush()  # three batches went, then the receiver failed
    assert rx.got == records[:15]
    assert box.spool.generation >= 1 and sorted(p.name for p in box.spool.dir.glob("spool.*.jsonl")) == [box.spool.path.name]
    assert box.spool.size < sum(len(r) + 1 for r in records)  # the delivered part is gone from disk
    box.close()
    rx2 = FailsAfter(100)
    from v6ops.events.outbox import spool_backlog

    assert spool_backlog(tmp_path).pending == 15
    again = Outbox(rx2, buffer=cfg, spool_dir=tmp_path, compact_bytes=60)  # adopts and delivers the rest
    assert again.flush() and rx2.got == records[15:]
    again.close()


def test_spool_backlog_is_read_from_the_files_across_a_restart(tmp_path):
    """What /health/ipv6 reads: records after the head, dropped ones, and since when the oldest waits,
    the same from another Outbox on the spool (a restart) and back to nothing once delivered."""
    from datetime import timedelta

    from v6ops.events.outbox import SpoolBacklog, spool_backlog

    assert spool_backlog(tmp_path) == SpoolBacklog(tmp_path, 0, 0, None)  # no spool yet: no backlog
    rx = Receiver()
    rx.up = False
    cfg = BufferConfig(max_buffer_size=3, batch_size=2, flush_interval=3600)
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    box = Outbox(rx, buffer=cfg, retry=RetryPolicy(max_retries=0), spool_dir=tmp_path)
    for n in range(5):
        box.put(json.dumps({"n": n}).encode())
    assert not box.flush()
    got = spool_backlog(tmp_path)
    assert (got.pending, got.dropped) == (3, 2)  # drop_oldest pushed two out of a buffer of three
    assert got.pending_since is not None and before <= got.pending_since <= datetime.now(UTC) + timedelta(milliseconds=1)
    assert got.age_seconds(got.pending_since + timedelta(seconds=90)) == 90
    box.close()
    again = Outbox(rx, buffer=cfg, retry=RetryPolicy(max_retries=0), spool_dir=tmp_path)
    assert spool_backlog(tmp_path) == got  # the restart resumes the same backlog and its age
    rx.up = True
    assert again.flush()
    assert [json.loads(r)["n"] for r in rx.got] == [2, 3, 4]
    assert spool_backlog(tmp_path) == SpoolBacklog(tmp_path, 0, 2, None)
    again.close()
