"""10,000 dual-stack probes against local servers, against two baselines on the same targets in the same run.

    .venv/bin/python benchmarks/probe_batch.py [--n 10000] [--concurrency 256] [--dns-delay-ms 0]

Local servers, started here: the dnspython test DNS server (every ``h<i>.bench.test`` has
A 127.0.0.1 and AAAA ::1) and a TCP sink on [::1] and 127.0.0.1 that accepts and closes.

- v6ops: ``probe_many`` (streamed, so memory does not grow with the number of targets): per
  target AAAA and A (shared by the DNS step and the RFC 8305 race), a TCP connect to each address
  and the race's own connect: 2 queries and 3 connects per target. ICMP is off (it needs privileges).
- sequential baseline: the same DNS server through dnspython's blocking resolver (AAAA, A), then
  ``socket.create_connection`` to each address, one target after the other: 2 queries, 2 connects.
- asyncio baseline: ``asyncio.open_connection(host, port, happy_eyeballs_delay=0.25, interleave=1)``
  with the loop's ``getaddrinfo`` answered from the same DNS server (one A+AAAA look-up, as
  asyncio does), at the same concurrency: 2 queries, 1 connect.

Memory: peak RSS after the first fifth of the targets and after all of them (bounded means the
second is not larger in proportion). The ratio of elapsed times is printed last.

On loopback every step takes microseconds, so this measures CPU cost per target, where
concurrency cannot help; ``--dns-delay-ms`` makes the DNS server hold each answer back, as a
resolver a few milliseconds away does, which is where probing concurrently pays.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.asyncresolver
import dns.nameserver
import dns.resolver

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from v6ops.probe.run import ProbeOptions, probe_many  # noqa: E402

SINK = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
v6 = socket.socket(socket.AF_INET6); v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
v6.bind(("::1", 0)); port = v6.getsockname()[1]
v4 = socket.socket(socket.AF_INET); v4.bind(("127.0.0.1", port))
for s in (v6, v4):
    s.listen(4096); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
print(port, flush=True)
while True:
    for key, _ in sel.select():
        try:
            while True:
                conn, _ = key.fileobj.accept(); conn.close()
        except BlockingIOError:
            pass
"""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_servers(tmp: Path, dns_delay_ms: float = 0.0) -> tuple[list[subprocess.Popen[Any]], int, int]:
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    port = int(sink.stdout.readline())
    port_file = tmp / "dns.port"
    delays = ["--delay", f"A={dns_delay_ms / 1000}", "--delay", f"AAAA={dns_delay_ms / 1000}"] if dns_delay_ms else []
    dns_proc = subprocess.Popen([sys.executable, "-m", "tests.probe.dnsserver", "--listen", "127.0.0.1", "--port-file",
                                 str(port_file), *delays, "*.bench.test=A:127.0.0.1", "*.bench.test=AAAA:::1"], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the DNS server did not start")
        time.sleep(0.05)
    return [sink, dns_proc], port, int(port_file.read_text())


async def run_v6ops(targets: list[str], dns_port: int, concurrency: int) -> tuple[float, dict[str, int], float, float]:
    options = ProbeOptions(nameservers=[f"127.0.0.1:{dns_port}"], icmp=False, timeout=10.0)
    verdicts: dict[str, int] = {}
    fifth = len(targets) // 5
    rss_at_fifth = 0.0
    start = time.perf_counter()
    done = 0
    async for _index, result in probe_many(iter(targets), options, concurrency=concurrency):
        verdicts[result["verdict"]] = verdicts.get(result["verdict"], 0) + 1
        done += 1
        if done == fifth:
            rss_at_fifth = peak_rss_mib()
    return time.perf_counter() - start, verdicts, rss_at_fifth, peak_rss_mib()


def run_sequential(targets: list[str], dns_port: int) -> tuple[float, int]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", dns_port)]
    resolver.cache = None
    ok = 0
    start = time.perf_counter()
    for text in targets:
        host, port = text.rsplit(":", 1)
        addresses = [r.address for rdtype in ("AAAA", "A")
                     for r in (resolver.resolve(host, rdtype, search=False, raise_on_no_answer=False).rrset or [])]
        connected = 0
        for address in addresses:
            with socket.create_connection((address, int(port)), timeout=10):
                connected += 1
        ok += connected == len(addresses) == 2
    return time.perf_counter() - start, ok


class DnsGetaddrinfoLoop(asyncio.SelectorEventLoop):
    """asyncio's loop with ``getaddrinfo`` answered by the benchmark's DNS server (AAAA and A, as one call)."""

    def __init__(self, dns_port: int) -> None:
        super().__init__()
        self.resolver = dns.asyncresolver.Resolver(configure=False)
        self.resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", dns_port)]
        self.resolver.cache = None

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def, override]
        infos = []
        for rdtype, fam in (("AAAA", socket.AF_INET6), ("A", socket.AF_INET)):
            answer = await self.resolver.resolve(host, rdtype, search=False, raise_on_no_answer=False)
            for r in answer.rrset or []:
                sockaddr = (r.address, int(port), 0, 0) if fam == socket.AF_INET6 else (r.address, int(port))
                infos.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos


def run_asyncio(targets: list[str], dns_port: int, concurrency: int) -> tuple[float, int]:
    async def go() -> int:
        gate = asyncio.Semaphore(concurrency)
        ok = 0

        async def one(text: str) -> None:
            nonlocal ok
            host, port = text.rsplit(":", 1)
            async with gate:
                _reader, writer = await asyncio.open_connection(host, int(port), happy_eyeballs_delay=0.25, interleave=1)
                writer.close()
                ok += 1

        await asyncio.gather(*(one(t) for t in targets))
        return ok

    loop = DnsGetaddrinfoLoop(dns_port)
    try:
        start = time.perf_counter()
        ok = loop.run_until_complete(go())
        return time.perf_counter() - start, ok
    finally:
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--dns-delay-ms", type=float, default=0.0, help="DNS server holds every answer this long")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs, port, dns_port = start_servers(Path(tmp), args.dns_delay_ms)
        try:
            targets = [f"h{i}.bench.test:{port}" for i in range(args.n)]
            rss_start = peak_rss_mib()
            ours, verdicts, rss_fifth, rss_end = asyncio.run(run_v6ops(targets, dns_port, args.concurrency))
            seq, seq_ok = run_sequential(targets, dns_port)
            aio, aio_ok = run_asyncio(targets, dns_port, args.concurrency)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
    print(f"targets: {args.n}, concurrency {args.concurrency}, DNS delay {args.dns_delay_ms:g} ms, cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"v6ops probe (2 queries, 3 connects each): {ours:7.2f} s  {args.n / ours:8.0f} targets/s  verdicts {verdicts}")
    print(f"  peak RSS MiB: start {rss_start:.0f}, after 1/5 {rss_fifth:.0f}, after all {rss_end:.0f}")
    print(f"sequential create_connection (2+2):        {seq:7.2f} s  {args.n / seq:8.0f} targets/s  ok {seq_ok}")
    print(f"asyncio happy_eyeballs_delay (2+1):        {aio:7.2f} s  {args.n / aio:8.0f} targets/s  ok {aio_ok}")
    print(f"ratio v6ops vs sequential: {seq / ours:.2f}x faster; vs asyncio HE: {aio / ours:.2f}x")


if __name__ == "__main__":
    main()
