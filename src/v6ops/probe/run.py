"""One dual-stack probe of one target, and many of them with bounded concurrency.

For each target: A and AAAA (asked together, timed apart), then for every address a TCP
connect (and the TLS handshake and an HTTP request when asked), an ICMP echo when permitted,
and a Happy Eyeballs race; the per-family results give a verdict a person can act on.
The result is a plain dict: the CLI's ``--json``, the API and the stored run are the same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from v6ops.addr import Address, Prefix
from v6ops.addr.embedded import nat64_synthesize
from v6ops.probe import happy
from v6ops.probe.icmp import echo
from v6ops.probe.pmtu import pmtu_check, pmtu_verdict
from v6ops.probe.resolve import DnsResolver, LookupFailedError, NameNotFoundError, Resolver, discover_nat64_prefix
from v6ops.probe.target import DEFAULT_PORT, Target, TargetError, parse_target

DUAL_STACK_OK = "dual-stack ok"
IPV6_BROKEN = "IPv6 broken"
IPV4_BROKEN = "IPv4 broken"
IPV4_ONLY = "IPv4 only"
IPV6_ONLY = "IPv6 only"
NO_ADDRESS = "no address"
UNREACHABLE = "unreachable"
INVALID = "invalid target"
SLOWER_PREFIX = "IPv6 slower by"


@dataclass
class ProbeOptions:
    """What each probe does; the defaults are those of ``v6ops probe`` and ``POST /api/v1/probes``."""

    nameservers: list[str] = field(default_factory=list)  # empty: the system's resolv.conf
    default_port: int = DEFAULT_PORT
    timeout: float = 3.0  # per step (look-up, connect, handshake, request)
    samples: int = 1  # TCP connects per address; the median is reported
    tls: bool | None = None  # None: for https URLs
    insecure: bool = False  # do not verify certificates
    http: bool | None = None  # None: for http and https URLs
    icmp: bool = True
    race: bool = True
    attempt_delay: float = happy.CONNECTION_ATTEMPT_DELAY
    resolution_delay: float = happy.RESOLUTION_DELAY
    first_address_family_count: int = happy.FIRST_ADDRESS_FAMILY_COUNT
    nat64_prefix: str | None = "discover"
    slower_ms: float = 50.0  # IPv6 this much slower than IPv4 is reported
    pmtu: bool = False  # fetch a > 1280-byte response over each IPv6 address (probe.pmtu)
    icmp_only: bool = False  # reachability by echo alone (the seed's ping/ping6 subscriber check): no TCP, no race
    pmtu_timeout: float = 5.0


@dataclass(frozen=True)
class ProbeItem:
    """A host whose addresses are already known (an IPAM subscriber or device): probed without DNS."""

    label: str
    addresses: tuple[str, ...]


class StaticResolver:
    """Answers every name with the same known addresses, so the Happy Eyeballs race can run over them."""

    def __init__(self, addresses: Sequence[Address]) -> None:
        self.addresses = list(addresses)

    async def lookup(self, name: str, version: int) -> list[Address]:
        return [a for a in self.addresses if a.version == version]


class SharedLookups:
    """One AAAA and one A query per target, shared by the DNS step and the Happy Eyeballs race.

    The race asks first (AAAA, then A, section 3 of RFC 8305) and the DNS step awaits the same
    answers, so a probe costs two queries, not four. ``shield`` keeps a query running when the
    race is won (and stops waiting) before the A answer is in.
    """

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.tasks: dict[tuple[str, int], asyncio.Task[list[Address]]] = {}

    async def lookup(self, name: str, version: int) -> list[Address]:
        task = self.tasks.get((name, version))
        if task is None:
            task = self.tasks[(name, version)] = asyncio.create_task(self.resolver.lookup(name, version))
        return await asyncio.shield(task)

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


class Nat64Prefix:
    """The NAT64 prefix for a run: given, none, or learned once from ``ipv4only.arpa`` (RFC 7050) when the
    first IPv4 literal needs it, not once per target."""

    def __init__(self, option: str | None, resolver: Resolver) -> None:
        self.option = option
        self.resolver = resolver
        self._discovery: asyncio.Task[Prefix | None] | None = None

    async def get(self) -> Prefix | None:
        if self.option is None:
            return None
        if self.option != "discover":
            return happy.parse_nat64_prefix(self.option)
        if self._discovery is None:
            self._discovery = asyncio.create_task(discover_nat64_prefix(self.resolver))
        return await asyncio.shield(self._discovery)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def _lookup(resolver: Resolver, name: str, version: int, timeout: float) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            found = await resolver.lookup(name, version)
        return {"addresses": [str(a) for a in found], "elapsed_ms": _ms(time.perf_counter() - start), "error": None}
    except NameNotFoundError:
        raise
    except LookupFailedError as exc:
        return {"addresses": [], "elapsed_ms": _ms(time.perf_counter() - start), "error": exc.reason}
    except TimeoutError:
        return {"addresses": [], "elapsed_ms": _ms(time.perf_counter() - start), "error": f"timed out after {timeout:g} s"}


async def _check_address(target: Target, address: Address, options: ProbeOptions,
                         tls_context: ssl.SSLContext | None, do_http: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"address": str(address), "family": f"IPv{address.version}", "tcp_connect_ms": None,
                           "tcp_error": None, "tls_handshake_ms": None, "tls_version": None, "tls_error": None,
                           "http_status": None, "http_ttfb_ms": None, "http_error": None, "icmp_rtt_ms": None,
                           "icmp_error": None, "ok": False}
    icmp_task = asyncio.create_task(echo(address, options.timeout)) if options.icmp else None
    times: list[float] = []
    sock = None
    try:
        for i in range(0 if options.icmp_only else max(1, options.samples)):
            start = time.perf_counter()
            try:
                async with asyncio.timeout(options.timeout):
                    sock = await happy.tcp_connect(address, target.port)
            except TimeoutError:
                row["tcp_error"] = f"timed out after {options.timeout:g} s"
                break
            except OSError as exc:
                row["tcp_error"] = exc.strerror or str(exc)
                break
            times.append(time.perf_counter() - start)
            if i < options.samples - 1:
                sock.close()
                sock = None
        if times and row["tcp_error"] is None:
            row["tcp_connect_ms"] = _ms(statistics.median(times))
            assert sock is not None
            row["ok"] = await _application(target, sock, row, options, tls_context, do_http)
            sock = None
    finally:
        if sock is not None:
            sock.close()
        if icmp_task is not None:
            result = await icmp_task
            row["icmp_rtt_ms"], row["icmp_error"] = result.rtt_ms, result.error
    if options.icmp_only:
        row["ok"] = row["icmp_rtt_ms"] is not None
    return row


async def _application(target: Target, sock: Any, row: dict[str, Any], options: ProbeOptions,
                       tls_context: ssl.SSLContext | None, do_http: bool) -> bool:
    """TLS handshake and HTTP request over the connected socket; True when every step asked for worked."""
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        if tls_context is not None:
            start = time.perf_counter()
            try:
                async with asyncio.timeout(options.timeout):
                    await writer.start_tls(tls_context, server_hostname=None if target.is_literal else target.host)
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                row["tls_error"] = _error(exc, options.timeout)
                return False
            row["tls_handshake_ms"] = _ms(time.perf_counter() - start)
            ssl_object = writer.get_extra_info("ssl_object")
            row["tls_version"] = ssl_object.version() if ssl_object else None
        if not do_http:
            return True
        request = (f"GET {target.path} HTTP/1.1\r\nHost: {target.authority}\r\nUser-Agent: v6ops-probe\r\n"
                   "Accept: */*\r\nConnection: close\r\n\r\n").encode()
        start = time.perf_counter()
        try:
            async with asyncio.timeout(options.timeout):
                writer.write(request)
                await writer.drain()
                first = await reader.read(1)
                if not first:
                    raise ConnectionError("connection closed before any response")
                row["http_ttfb_ms"] = _ms(time.perf_counter() - start)
                status_line = first + await reader.readline()
        except (OSError, TimeoutError, ConnectionError) as exc:
            row["http_error"] = _error(exc, options.timeout)
            return False
        parts = status_line.decode("latin-1").split()
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            row["http_error"] = f"not an HTTP response: {status_line[:60]!r}"
            return False
        row["http_status"] = int(parts[1])
        return True
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def _error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def family_summary(rows: list[dict[str, Any]], version: int) -> dict[str, Any]:
    mine = [r for r in rows if r["family"] == f"IPv{version}"]
    ok = [r for r in mine if r["ok"]]
    connect = [r["tcp_connect_ms"] for r in ok if r["tcp_connect_ms"] is not None]
    ttfb = [r["http_ttfb_ms"] for r in ok if r["http_ttfb_ms"] is not None]
    icmp = [r["icmp_rtt_ms"] for r in mine if r["icmp_rtt_ms"] is not None]
    return {
        "addresses": len(mine),
        "reachable": len(ok),
        "success_ratio": round(len(ok) / len(mine), 4) if mine else None,
        "best_connect_ms": min(connect) if connect else None,
        "best_ttfb_ms": min(ttfb) if ttfb else None,
        "icmp_rtt_ms": min(icmp) if icmp else None,
    }


def verdict(v6: dict[str, Any], v4: dict[str, Any], slower_ms: float) -> tuple[str, float | None]:
    """The one-line verdict and, when IPv6 is the slower family by more than ``slower_ms``, by how much."""
    has6, has4 = v6["addresses"] > 0, v4["addresses"] > 0
    ok6, ok4 = v6["reachable"] > 0, v4["reachable"] > 0
    if not has6 and not has4:
        return NO_ADDRESS, None
    if has6 and has4:
        if ok6 and ok4:
            # Compare like with like: time to first byte when HTTP was asked on both, else TCP connect, else echo.
            key = next(k for k in ("best_ttfb_ms", "best_connect_ms", "icmp_rtt_ms")
                       if v6[k] is not None and v4[k] is not None)
            gap = v6[key] - v4[key]
            if gap > slower_ms:
                return f"{SLOWER_PREFIX} {round(gap)} ms", round(gap, 3)
            return DUAL_STACK_OK, None
        if ok4:
            return IPV6_BROKEN, None
        if ok6:
            return IPV4_BROKEN, None
        return UNREACHABLE, None
    if has6:
        return (IPV6_ONLY, None) if ok6 else (IPV6_BROKEN, None)
    return (IPV4_ONLY, None) if ok4 else (UNREACHABLE, None)


def _tls_context(options: ProbeOptions) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _empty_result(text: str) -> dict[str, Any]:
    return {"target": text, "host": None, "port": None, "scheme": None, "started_at": None, "elapsed_ms": None,
            "dns": {"AAAA": None, "A": None}, "addresses": [], "families": {}, "happy_eyeballs": None,
            "verdict": INVALID, "ipv6_slower_ms": None, "pmtu": None, "pmtu_checks": [], "error": None}


async def probe_target(item: str | ProbeItem, options: ProbeOptions, resolver: Resolver | None = None,
                       nat64: Nat64Prefix | None = None) -> dict[str, Any]:
    """Probe one target. Never raises for a bad or unreachable target: the result carries ``error``."""
    text = item.label if isinstance(item, ProbeItem) else item
    result = _empty_result(text)
    start = time.perf_counter()
    result["started_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    try:
        if isinstance(item, ProbeItem):
            known = [Address.parse(a) for a in item.addresses]
            target = Target(text=text, host=text, port=options.default_port)
        else:
            target = parse_target(text, options.default_port)
    except (TargetError, ValueError) as exc:
        result["error"] = str(exc)
        return result
    result.update(host=target.host, port=target.port, scheme=target.scheme)
    resolver = resolver or DnsResolver(options.nameservers, timeout=options.timeout)
    if isinstance(item, ProbeItem):
        result["dns"] = None
        resolver = StaticResolver(known)
    shared = SharedLookups(resolver)
    racing = options.race and not options.icmp_only
    nat64 = nat64 or Nat64Prefix(options.nat64_prefix, resolver)
    race_task = asyncio.create_task(_race(target, options, shared, nat64)) if racing else None
    try:
        return await _probe_addresses(item, target, options, shared, nat64, race_task, result, start)
    finally:
        if race_task is not None and not race_task.done():
            race_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await race_task
        await shared.close()


async def _probe_addresses(item: str | ProbeItem, target: Target, options: ProbeOptions, shared: SharedLookups,
                           nat64: Nat64Prefix, race_task: asyncio.Task[dict[str, Any]] | None, result: dict[str, Any],
                           start: float) -> dict[str, Any]:
    synthesized: set[Address] = set()
    if isinstance(item, ProbeItem):
        addresses = await shared.resolver.lookup(target.host, 6) + await shared.resolver.lookup(target.host, 4)
    elif target.address is not None:
        addresses = [target.address]
        result["dns"] = None
        prefix = await nat64.get() if target.address.version == 4 else None
        if prefix is not None:  # on a NAT64 network the literal is also reachable as this IPv6 address
            synthesized.add(nat64_synthesize(target.address, prefix))
            addresses = [*synthesized, target.address]
    else:
        try:
            aaaa, a = await asyncio.gather(_lookup(shared, target.host, 6, options.timeout),
                                           _lookup(shared, target.host, 4, options.timeout))
        except NameNotFoundError as exc:
            result.update(verdict=NO_ADDRESS, error=str(exc), elapsed_ms=_ms(time.perf_counter() - start))
            result["families"] = {"IPv6": family_summary([], 6), "IPv4": family_summary([], 4)}
            return result
        result["dns"] = {"AAAA": aaaa, "A": a}
        addresses = [Address.parse(x) for x in aaaa["addresses"] + a["addresses"]]
    tls = options.tls if options.tls is not None else target.scheme == "https"
    do_http = options.http if options.http is not None else target.scheme is not None
    context = _tls_context(options) if tls else None
    checks = [_check_address(target, address, options, context, do_http) for address in addresses]
    rows = list(await asyncio.gather(*checks))
    for row, address in zip(rows, addresses, strict=True):
        row["synthesized"] = address in synthesized
    result["addresses"] = rows
    if race_task is not None:
        result["happy_eyeballs"] = await race_task
    if options.pmtu:
        result["pmtu_checks"] = list(await asyncio.gather(*(
            pmtu_check(target, address, timeout=options.pmtu_timeout, tls_context=context)
            for address in addresses if address.version == 6)))
        result["pmtu"] = pmtu_verdict(result["pmtu_checks"])
    v6, v4 = family_summary(rows, 6), family_summary(rows, 4)
    result["families"] = {"IPv6": v6, "IPv4": v4}
    result["verdict"], result["ipv6_slower_ms"] = verdict(v6, v4, options.slower_ms)
    if not addresses:
        errors = [f"{k}: {v['error']}" for k, v in (result["dns"] or {}).items() if v and v["error"]]
        result["error"] = "; ".join(errors) or None
    elif not (v6["reachable"] or v4["reachable"]):
        result["error"] = "; ".join(f"{r['address']}: {r['tcp_error'] or r['tls_error'] or r['http_error'] or r['icmp_error']}"
                                    for r in rows)
    result["elapsed_ms"] = _ms(time.perf_counter() - start)
    return result


async def _race(target: Target, options: ProbeOptions, resolver: Resolver, nat64: Nat64Prefix) -> dict[str, Any]:
    # Only an IPv4 literal is ever synthesized (RFC 8305 section 7), so only it waits for the prefix.
    prefix = await nat64.get() if target.address is not None and target.address.version == 4 else None
    try:
        sock, trace = await happy.connect(
            target.host, target.port, resolver=resolver, attempt_delay=options.attempt_delay,
            resolution_delay=options.resolution_delay, first_address_family_count=options.first_address_family_count,
            nat64_prefix=prefix, timeout=options.timeout + 2 * happy.MAX_CONNECTION_ATTEMPT_DELAY)
    except happy.HappyEyeballsError as exc:
        return {**exc.trace.as_dict(), "error": str(exc)}
    except TimeoutError:
        return {"winner": None, "winner_family": None, "connected_ms": None, "error": "race timed out"}
    sock.close()
    return {**trace.as_dict(), "error": None}


async def probe_many(texts: Iterable[str | ProbeItem], options: ProbeOptions, *, concurrency: int = 64,
                     resolver: Resolver | None = None) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Probe every target, at most ``concurrency`` at a time, yielding (input index, result) as they finish.

    Memory stays bounded by ``concurrency``: targets are taken from the iterable only as slots free up.
    """
    resolver = resolver or DnsResolver(options.nameservers, timeout=options.timeout)
    nat64 = Nat64Prefix(options.nat64_prefix, resolver)
    iterator = enumerate(texts)
    pending: dict[asyncio.Task[dict[str, Any]], int] = {}

    def refill() -> None:
        for index, text in itertools.islice(iterator, max(0, concurrency - len(pending))):
            pending[asyncio.create_task(probe_target(text, options, resolver, nat64))] = index

    refill()
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                yield pending.pop(task), task.result()
            refill()
    finally:
        for task in pending:
            task.cancel()


def new_run(options: ProbeOptions) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "options": asdict(options), "results": [], "summary": {}}


def summarize(results: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        key = SLOWER_PREFIX if r["verdict"].startswith(SLOWER_PREFIX) else r["verdict"]
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


async def run_probes(texts: Sequence[str | ProbeItem], options: ProbeOptions, *, concurrency: int = 64,
                     on_result: Callable[[dict[str, Any]], None] | None = None,
                     resolver: Resolver | None = None) -> dict[str, Any]:
    """A probe run: every target's result in input order, a verdict summary, an id and the options used."""
    run = new_run(options)
    results: list[tuple[int, dict[str, Any]]] = []
    async for index, result in probe_many(texts, options, concurrency=concurrency, resolver=resolver):
        results.append((index, result))
        if on_result is not None:
            on_result(result)
    run["results"] = [r for _, r in sorted(results, key=lambda pair: pair[0])]
    run["summary"] = summarize(run["results"])
    return run
