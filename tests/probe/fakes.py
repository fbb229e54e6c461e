"""A resolver and a connector whose answers arrive when the test says, on the loop's clock."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from v6ops.addr import Address
from v6ops.probe.resolve import LookupFailedError, NameNotFoundError

HANG = float("inf")


@dataclass
class Answer:
    delay: float
    addresses: list[str] = field(default_factory=list)
    error: str | None = None  # "nxdomain" or "timeout"


class FakeResolver:
    def __init__(self, answers: dict[tuple[str, int], Answer]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, float]] = []

    async def lookup(self, name: str, version: int) -> list[Address]:
        loop = asyncio.get_running_loop()
        self.asked.append((name, "AAAA" if version == 6 else "A", loop.time()))
        answer = self.answers.get((name, version), Answer(0.001))
        if answer.delay == HANG:
            await asyncio.Event().wait()
        await asyncio.sleep(answer.delay)
        if answer.error == "nxdomain":
            raise NameNotFoundError(name)
        if answer.error:
            raise LookupFailedError(name, "AAAA" if version == 6 else "A", answer.error)
        return [Address.parse(a) for a in answer.addresses]


@dataclass
class Outcome:
    delay: float
    ok: bool = True


class FakeConnector:
    """Connects (returns an unconnected socket) or fails after each address's delay; HANG never ends."""

    def __init__(self, outcomes: dict[str, Outcome]) -> None:
        self.outcomes = outcomes
        self.started: list[tuple[str, float]] = []
        self.sockets: list[socket.socket] = []

    async def __call__(self, address: Address, port: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        self.started.append((str(address), loop.time()))
        outcome = self.outcomes.get(str(address), Outcome(HANG))
        if outcome.delay == HANG:
            await asyncio.Event().wait()
        await asyncio.sleep(outcome.delay)
        if not outcome.ok:
            raise ConnectionRefusedError(111, "Connection refused")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sockets.append(sock)
        return sock


def global_sources(unreachable: frozenset[str] = frozenset()) -> object:
    """A source lookup for a host with 2001:db8::100 and 192.0.2.100 and routes to everything but ``unreachable``."""

    def source_for(destination: Address) -> Address | None:
        if str(destination) in unreachable:
            return None
        if destination.version == 4:
            return Address.parse("127.0.0.1") if str(destination).startswith("127.") else Address.parse("192.0.2.100")
        if destination.value == 1:
            return destination
        if destination.value >> 118 == 0xFE80 >> 6:
            return Address.parse("fe80::100")
        return Address.parse("2001:db8::100")

    return source_for
