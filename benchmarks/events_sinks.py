"""Security events through the CEF/syslog sink (TCP, octet counting) and the audit log, against writing
the same JSON lines to a file, in the same run. Prints events/s, memory over time and the ratio last.

    .venv/bin/python benchmarks/events_sinks.py --events 300000

Both wall-clock and process-CPU rates are printed: on a shared machine the wall rate measures the
neighbours too. The syslog receiver is a separate process that reads and counts octet-counted frames (so the
receiver's cost is not on our cores' GIL); every event must arrive. Memory: peak RSS sampled every
second; "flat" means the last sample is within 10% of the sample after the first quarter of the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from v6ops.events import SecurityEvent
from v6ops.events.audit import AuditLog, Keyring, generate_signing_key, load_signing_key, rotate_key, verify
from v6ops.events.outbox import BufferConfig
from v6ops.events.rfc5424 import SyslogHeader
from v6ops.events.syslog import SyslogSink

TYPES = ["ra_blocked", "source_validation_failed", "rate_limit_exceeded", "extension_header_blocked", "port_scan"]
SEVS = ["info", "warning", "error", "critical"]


def events(n: int) -> list[SecurityEvent]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    out = []
    for i in range(n):
        out.append(SecurityEvent(
            timestamp=datetime.fromtimestamp(t0 + i / 1000, UTC), event_id=f"{i:012d}-bench", vm_id=f"vm-{i % 500}",
            customer_id=f"cust-{i % 50}", event_type=TYPES[i % 5], severity=SEVS[i % 4],
            source_ip=f"2001:db8:{i % 65536:x}::{i % 251 + 1:x}", destination_ip="2001:db8:ffff::1",
            description="source outside the allowed ingress prefixes (BCP 38 (RFC 2827) section 3)",
            source="policy.evaluator", details={"rule": "bcp38-spoofed-source", "packet_index": i, "length": 1280}))
    return out


def receiver(port_q: mp.Queue, done_q: mp.Queue) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port_q.put(srv.getsockname()[1])
    conn, _ = srv.accept()
    buf, frames = b"", 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        buf += data
        pos = 0
        while True:
            sp = buf.find(b" ", pos)
            if sp < 0:
                break
            length = int(buf[pos:sp])
            if sp + 1 + length > len(buf):
                break
            pos = sp + 1 + length
            frames += 1
        buf = buf[pos:]
    done_q.put(frames)


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.samples.append(rss_mib())


def run_alone(evs: list[SecurityEvent], work: Path, rounds: int, which: str) -> tuple[float, float]:
    """One of the two on its own (CEF/syslog to a counting receiver, or the audit log)."""
    if which == "audit":
        target = AuditLog(work / f"alone-{which}.jsonl", keyring=Keyring.load(work / "aes.keys"),
                          signing_key=load_signing_key(work / "sign.pem"), checkpoint_every=10_000)
        proc = None
    else:
        port_q: mp.Queue = mp.Queue()
        done_q: mp.Queue = mp.Queue()
        proc = mp.Process(target=receiver, args=(port_q, done_q))
        proc.start()
        target = SyslogSink("127.0.0.1", port_q.get(), transport="tcp", header=SyslogHeader(hostname="bench", procid="1"),
                            buffer=BufferConfig(max_buffer_size=10_000, batch_size=1000, flush_interval=0.2))
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for e in evs:
            target.emit(e)
    target.close()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if proc is not None:
        proc.join(timeout=60)
        assert done_q.get(timeout=60) == len(evs) * rounds
    return len(evs) * rounds / elapsed, len(evs) * rounds / cpu


def run_sinks(evs: list[SecurityEvent], work: Path, rounds: int) -> tuple[float, float, list[float], int]:
    port_q: mp.Queue = mp.Queue()
    done_q: mp.Queue = mp.Queue()
    proc = mp.Process(target=receiver, args=(port_q, done_q))
    proc.start()
    port = port_q.get()
    pub = generate_signing_key(work / "sign.pem")
    rotate_key(work / "aes.keys", "k1")
    sink = SyslogSink("127.0.0.1", port, transport="tcp", header=SyslogHeader(hostname="bench", procid="1"),
                      buffer=BufferConfig(max_buffer_size=10_000, batch_size=1000, flush_interval=0.2))
    audit = AuditLog(work / "audit.jsonl", keyring=Keyring.load(work / "aes.keys"),
                     signing_key=load_signing_key(work / "sign.pem"), checkpoint_every=10_000)
    sampler = Sampler()
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for e in evs:
            sink.emit(e)
            audit.emit(e)
    sink.close()
    audit.close()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    sampler.stop.set()
    sampler.join()
    sink.connection.close()
    proc.join(timeout=60)
    received = done_q.get(timeout=60)
    report = verify(work / "audit.jsonl", load_signing_key(work / "sign.pem").public_key())
    assert report.ok, report.as_dict()
    assert pub.exists()
    total = len(evs) * rounds
    assert received == total - sink.dropped, (received, total, sink.dropped)
    return total / elapsed, total / cpu, sampler.samples, sink.dropped


def run_baseline(evs: list[SecurityEvent], work: Path, rounds: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    with open(work / "plain.jsonl", "wb", buffering=1 << 16) as fh:
        for _ in range(rounds):
            for e in evs:
                fh.write(e.to_json().encode() + b"\n")
    total = len(evs) * rounds
    return total / (time.perf_counter() - start), total / (time.process_time() - cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000, help="events per run (a 50,000-event set replayed)")
    args = ap.parse_args()
    distinct = min(args.events, 50_000)
    rounds = max(1, args.events // distinct)
    evs = events(distinct)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base, base_cpu = run_baseline(evs, work, rounds)
        rate, rate_cpu, samples, dropped = run_sinks(evs, work, rounds)
        cef_alone = run_alone(evs, work, rounds, "syslog")
        audit_alone = run_alone(evs, work, rounds, "audit")
        quarter = samples[len(samples) // 4] if samples else 0.0
        last = samples[-1] if samples else 0.0
        print(json.dumps({"events": len(evs) * rounds, "baseline_jsonl_per_s": round(base),
                          "baseline_jsonl_per_cpu_s": round(base_cpu), "cef_syslog_tcp_plus_audit_per_s": round(rate),
                          "cef_syslog_tcp_plus_audit_per_cpu_s": round(rate_cpu), "dropped": dropped,
                          "cef_syslog_alone_per_s": round(cef_alone[0]), "cef_syslog_alone_per_cpu_s": round(cef_alone[1]),
                          "audit_alone_per_s": round(audit_alone[0]), "audit_alone_per_cpu_s": round(audit_alone[1]),
                          "load_average": os.getloadavg()[0],
                          "rss_mib_after_first_quarter": round(quarter, 1), "rss_mib_last": round(last, 1),
                          "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
        print(f"baseline: JSON lines to a file        {base:12,.0f} events/s wall {base_cpu:12,.0f} per CPU-second")
        print(f"v6ops: CEF/syslog TCP + audit log     {rate:12,.0f} events/s wall {rate_cpu:12,.0f} per CPU-second"
              f" (dropped {dropped})")
        print(f"  CEF/syslog TCP alone                {cef_alone[0]:12,.0f} events/s wall {cef_alone[1]:12,.0f} per CPU-second")
        print(f"  audit log alone                     {audit_alone[0]:12,.0f} events/s wall {audit_alone[1]:12,.0f} per CPU-second")
        print(f"memory: {quarter:.1f} MiB after the first quarter, {last:.1f} MiB at the end"
              f" ({'flat' if last <= quarter * 1.1 else 'GROWING'})")
        print(f"ratio v6ops / baseline (CPU time; wall {rate / base:.2f}): {rate_cpu / base_cpu:.2f}")


if __name__ == "__main__":
    main()
