"""Happy Eyeballs version 2 (RFC 8305): race a host's addresses and return the first connection.

What asyncio's ``happy_eyeballs_delay``, aiohappyeyeballs, curl and Go leave out and this does:

- AAAA is asked first and A right after, and the race starts as soon as a usable answer is in
  (section 3): at once for a positive AAAA, after the 50 ms Resolution Delay for an A answer
  that came first;
- answers that come in while attempts are running are merged into the list still to try
  (sections 3 and 6);
- the list is in RFC 6724 section 6 order, then interleaved with the First Address Family Count
  (section 4);
- attempts are spaced by the Connection Attempt Delay, 250 ms by default and clamped to
  [10 ms, 2 s] (section 5); a failed attempt starts the next one at once;
- an IPv4 literal on a network with NAT64 is also tried as the address synthesized with the
  prefix learned from ``ipv4only.arpa`` (section 7; RFC 7050, RFC 6052).

``connect`` returns the connected socket and a ``RaceTrace``; ``open_connection`` wraps it in
asyncio streams (optionally TLS). All times come from the event loop's clock, so tests can run
the race on a loop with virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl as ssl_module
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from v6ops.addr import Address, Prefix
from v6ops.addr.embedded import nat64_synthesize
from v6ops.probe.resolve import DnsResolver, LookupFailedError, NameNotFoundError, Resolver, discover_nat64_prefix
from v6ops.probe.rfc6724 import SourceLookup, kernel_source, sort_destinations

# RFC 8305 section 8 recommended values and section 5 limits.
CONNECTION_ATTEMPT_DELAY = 0.250
MIN_CONNECTION_ATTEMPT_DELAY = 0.010
MAX_CONNECTION_ATTEMPT_DELAY = 2.0
RESOLUTION_DELAY = 0.050
FIRST_ADDRESS_FAMILY_COUNT = 1

Connector = Callable[[Address, int], Coroutine[Any, Any, socket.socket]]


class HappyEyeballsError(OSError):
    """No attempt connected (or there was nothing to try); ``trace`` says what was tried and how each ended."""

    def __init__(self, message: str, trace: RaceTrace) -> None:
        super().__init__(message)
        self.trace = trace


NAT64_PREFIX_LENGTHS = (32, 40, 48, 56, 64, 96)  # RFC 6052 section 2.2


def parse_nat64_prefix(text: str) -> Prefix:
    """A NAT64 prefix from text; RFC 6052 section 2.2 allows only /32, /40, /48, /56, /64 and /96."""
    prefix = Prefix.parse(text)
    if prefix.version != 6 or prefix.length not in NAT64_PREFIX_LENGTHS:
        raise ValueError(f"NAT64 prefix {text!r} must be an IPv6 /32, /40, /48, /56, /64 or /96 (RFC 6052 section 2.2)")
    return prefix


def clamp_attempt_delay(seconds: float) -> float:
    """RFC 8305 section 5: never less than 10 ms apart, never more than 2 s."""
    return min(max(seconds, MIN_CONNECTION_ATTEMPT_DELAY), MAX_CONNECTION_ATTEMPT_DELAY)


@dataclass
class QueryEvent:
    rdtype: str
    sent_ms: float
    answered_ms: float | None = None
    addresses: list[str] = field(default_factory=list)
    error: str | None = None
    used: bool = True  # False when the race had already been won


@dataclass
class Attempt:
    address: Address
    started_ms: float
    scheduled_ms: float  # when the algorithm made it due (a timer or an event); started_ms - scheduled_ms is loop lateness
    ended_ms: float | None = None
    outcome: str = "pending"  # connected | failed | cancelled
    error: str | None = None
    synthesized: bool = False  # NAT64 address made from an IPv4 literal

    def as_dict(self) -> dict[str, Any]:
        return {"address": str(self.address), "family": f"IPv{self.address.version}", "started_ms": self.started_ms,
                "scheduled_ms": self.scheduled_ms, "ended_ms": self.ended_ms, "outcome": self.outcome,
                "error": self.error, "synthesized": self.synthesized}


@dataclass
class RaceTrace:
    host: str
    port: int
    attempt_delay_ms: float
    resolution_delay_ms: float
    first_address_family_count: int
    queries: list[QueryEvent] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    nat64_prefix: str | None = None
    resolution_delay_used: bool = False
    winner: Address | None = None
    connected_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "winner": str(self.winner) if self.winner else None,
            "winner_family": f"IPv{self.winner.version}" if self.winner else None,
            "connected_ms": self.connected_ms,
            "attempt_delay_ms": self.attempt_delay_ms,
            "resolution_delay_ms": self.resolution_delay_ms,
            "resolution_delay_used": self.resolution_delay_used,
            "first_address_family_count": self.first_address_family_count,
            "nat64_prefix": self.nat64_prefix,
            "queries": [q.__dict__ for q in self.queries],
            "attempts": [a.as_dict() for a in self.attempts],
        }


def interleave(addresses: list[Address], first_family_count: int = FIRST_ADDRESS_FAMILY_COUNT,
               start_version: int | None = None) -> list[Address]:
    """RFC 8305 section 4: alternate families, ``first_family_count`` of the first family first.

    ``addresses`` is already in preference order; ``start_version`` (used when merging late
    answers) says which family goes next, and then the count is one.
    """
    if not addresses:
        return []
    first = start_version if start_version in {a.version for a in addresses} else addresses[0].version
    count = first_family_count if start_version is None else 1
    queues = {4: [a for a in addresses if a.version == 4], 6: [a for a in addresses if a.version == 6]}
    out: list[Address] = []
    out.extend(queues[first][:count])
    queues[first] = queues[first][count:]
    turn = 10 - first  # the other family (4 <-> 6)
    while queues[4] or queues[6]:
        if queues[turn]:
            out.append(queues[turn].pop(0))
        turn = 10 - turn
    return out


async def tcp_connect(address: Address, port: int) -> socket.socket:
    """One non-blocking TCP connect on the running loop; the socket is closed if it fails or is cancelled."""
    loop = asyncio.get_running_loop()
    if address.version == 6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        scope = 0
        if address.zone:
            scope = int(address.zone) if address.zone.isdigit() else socket.if_nametoindex(address.zone)
        sockaddr: tuple[Any, ...] = (str(Address(6, address.value)), port, 0, scope)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sockaddr = (str(address), port)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class _Race:
    def __init__(self, host: str, port: int, *, resolver: Resolver, attempt_delay: float, resolution_delay: float,
                 first_family_count: int, nat64_prefix: Prefix | None, connector: Connector,
                 source_for: SourceLookup) -> None:
        self.host = host
        self.port = port
        self.resolver = resolver
        self.attempt_delay = clamp_attempt_delay(attempt_delay)
        self.resolution_delay = resolution_delay
        self.first_family_count = max(1, first_family_count)
        self.nat64_prefix = nat64_prefix
        self.connector = connector
        self.source_for = source_for
        self.trace = RaceTrace(host, port, round(self.attempt_delay * 1000, 3), round(resolution_delay * 1000, 3),
                               self.first_family_count, nat64_prefix=str(nat64_prefix) if nat64_prefix else None)
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.candidates: list[Address] = []
        self.synthesized: set[Address] = set()
        self.tried: set[Address] = set()
        self.last_version: int | None = None

    def ms(self) -> float:
        return round((self.loop.time() - self.t0) * 1000, 3)

    def merge(self, addresses: list[Address]) -> None:
        """Sections 4 and 6: new addresses join the untried ones, re-sorted and re-interleaved."""
        fresh = [a for a in addresses if a not in self.tried and a not in self.candidates]
        if not fresh:
            return
        ordered = sort_destinations(self.candidates + fresh, self.source_for)
        if self.last_version is None:
            self.candidates = interleave(ordered, self.first_family_count)
        else:
            self.candidates = interleave(ordered, start_version=10 - self.last_version)

    def literal_candidates(self, address: Address) -> list[Address]:
        if address.version == 4 and self.nat64_prefix is not None:
            synthesized = nat64_synthesize(address, self.nat64_prefix)
            self.synthesized.add(synthesized)
            return [synthesized, address]
        return [address]

    async def run(self) -> socket.socket:
        literal = _literal(self.host)
        queries: dict[asyncio.Task[list[Address]], QueryEvent] = {}
        answers: dict[int, list[Address]] = {}
        started = False
        if literal is not None:
            self.merge(self.literal_candidates(literal))
            started = True
        else:
            # Section 3: AAAA first, A right after, without waiting for the first answer.
            for version, rdtype in ((6, "AAAA"), (4, "A")):
                task = asyncio.create_task(self.resolver.lookup(self.host, version))
                queries[task] = QueryEvent(rdtype, self.ms())
                self.trace.queries.append(queries[task])  # in the order sent
        attempts: dict[asyncio.Task[socket.socket], Attempt] = {}
        next_attempt_at = ready_at = self.loop.time()  # ready_at: when the untried list last became usable
        resolution_deadline: float | None = None
        failure: str | None = None
        try:
            while True:
                now = self.loop.time()
                if not started:
                    if answers.get(6):
                        started = True  # section 3: a positive AAAA answer starts the race at once
                    elif 6 in answers and 4 in answers:
                        started = True
                    elif answers.get(4):
                        if resolution_deadline is None:
                            resolution_deadline = now + self.resolution_delay
                            self.trace.resolution_delay_used = True
                        started = now >= resolution_deadline
                    if started:
                        ready_at = resolution_deadline if resolution_deadline is not None and not answers.get(6) \
                            and 6 not in answers else now
                        self.merge(answers.get(6, []) + answers.get(4, []))
                if started and self.candidates and (not attempts or now >= next_attempt_at):
                    address = self.candidates.pop(0)
                    self.tried.add(address)
                    self.last_version = address.version
                    due = max(ready_at, next_attempt_at)
                    begun = self.loop.time()
                    attempt = Attempt(address, round((begun - self.t0) * 1000, 3), round((due - self.t0) * 1000, 3),
                                      synthesized=address in self.synthesized)
                    self.trace.attempts.append(attempt)
                    attempts[asyncio.create_task(self.connector(address, self.port))] = attempt
                    next_attempt_at = begun + self.attempt_delay  # section 5: spaced from this attempt's start
                    continue
                if started and not self.candidates and not attempts and not queries:
                    break
                if not started and not queries:
                    break
                timeout: float | None = None
                if not started and resolution_deadline is not None:
                    timeout = max(0.0, resolution_deadline - now)
                elif started and self.candidates and attempts:
                    timeout = max(0.0, next_attempt_at - now)
                waiting: set[asyncio.Task[Any]] = set(attempts) | set(queries)
                done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    if finished in queries:
                        query = finished
                        event = queries.pop(query)
                        version = 6 if event.rdtype == "AAAA" else 4
                        event.answered_ms = self.ms()
                        exc = query.exception()
                        if exc is None:
                            found = query.result()
                            event.addresses = [str(a) for a in found]
                            answers[version] = found
                            if started:
                                if not self.candidates:
                                    ready_at = self.loop.time()
                                self.merge(found)  # sections 3 and 6: late answers join the list
                        else:
                            if not isinstance(exc, NameNotFoundError | LookupFailedError):
                                raise exc
                            event.error = str(exc)
                            failure = failure or str(exc)
                            answers[version] = []
                        continue
                    connecting: asyncio.Task[socket.socket] = finished
                    attempt = attempts.pop(connecting)
                    attempt.ended_ms = self.ms()
                    exc = connecting.exception()
                    if exc is None:
                        attempt.outcome = "connected"
                        self.trace.winner = attempt.address
                        self.trace.connected_ms = attempt.ended_ms
                        return connecting.result()
                    attempt.outcome, attempt.error = "failed", _describe(exc)
                    next_attempt_at = self.loop.time()  # a failure starts the next attempt at once
        finally:
            await self.cancel_rest(attempts, queries)
        if not self.trace.attempts:
            reason = failure or "no A or AAAA records"
            raise HappyEyeballsError(f"{self.host}: no address to connect to ({reason})", self.trace)
        errors = "; ".join(f"{a.address}: {a.error}" for a in self.trace.attempts)
        raise HappyEyeballsError(f"{self.host} port {self.port}: every attempt failed ({errors})", self.trace)

    async def cancel_rest(self, attempts: dict[asyncio.Task[socket.socket], Attempt],
                          queries: dict[asyncio.Task[list[Address]], QueryEvent]) -> None:
        """Section 5: once one attempt has connected the others are cancelled; their sockets are closed."""
        for task, attempt in attempts.items():
            task.cancel()
            attempt.outcome, attempt.ended_ms = "cancelled", self.ms()
        for query, event in queries.items():
            query.cancel()
            event.used = False
        pending: list[asyncio.Task[Any]] = [*attempts, *queries]
        if pending:
            results = await asyncio.gather(*pending, return_exceptions=True)
            for result in results:
                if isinstance(result, socket.socket):  # connected just as it was cancelled
                    result.close()


def _literal(host: str) -> Address | None:
    try:
        return Address.parse(host, allow_zone=True)
    except ValueError:
        return None


async def connect(
    host: str,
    port: int,
    *,
    resolver: Resolver | None = None,
    attempt_delay: float = CONNECTION_ATTEMPT_DELAY,
    resolution_delay: float = RESOLUTION_DELAY,
    first_address_family_count: int = FIRST_ADDRESS_FAMILY_COUNT,
    nat64_prefix: Prefix | str | None = "discover",
    connector: Connector = tcp_connect,
    source_for: SourceLookup = kernel_source,
    timeout: float | None = None,
) -> tuple[socket.socket, RaceTrace]:
    """Race ``host``'s addresses per RFC 8305 and return the first connected socket and the race's trace.

    ``host`` is a name or an address literal. ``nat64_prefix``: a prefix, None for no NAT64, or
    ``"discover"`` to learn it from ``ipv4only.arpa`` (only asked for IPv4 literals). The socket
    is non-blocking and belongs to the caller. Raises ``HappyEyeballsError`` (an ``OSError``) when
    nothing connects, and ``TimeoutError`` after ``timeout`` seconds.
    """
    resolver = resolver or DnsResolver()
    literal = _literal(host)
    prefix: Prefix | None
    if isinstance(nat64_prefix, Prefix) or nat64_prefix is None:
        prefix = nat64_prefix
    elif nat64_prefix == "discover":
        prefix = await discover_nat64_prefix(resolver) if literal is not None and literal.version == 4 else None
    else:
        prefix = parse_nat64_prefix(nat64_prefix)
    race = _Race(host, port, resolver=resolver, attempt_delay=attempt_delay, resolution_delay=resolution_delay,
                 first_family_count=first_address_family_count, nat64_prefix=prefix, connector=connector,
                 source_for=source_for)
    async with asyncio.timeout(timeout):
        sock = await race.run()
    return sock, race.trace


async def open_connection(
    host: str,
    port: int,
    *,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    **options: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``connect`` wrapped in asyncio streams (TLS when ``ssl`` is given), like ``asyncio.open_connection``."""
    sock, _trace = await connect(host, port, **options)
    try:
        if ssl is not None:
            hostname = server_hostname if server_hostname is not None else (None if _literal(host) else host)
            return await asyncio.open_connection(sock=sock, ssl=ssl, server_hostname=hostname)
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        with contextlib.suppress(OSError):
            sock.close()
        raise
