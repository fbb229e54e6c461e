"""RFC 8305 behaviour of the racer, on a virtual clock: every time asserted here is exact."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.probe.fakes import Answer, FakeConnector, FakeResolver, Outcome, global_sources
from tests.probe.vtime import run_virtual
from v6ops.addr import Address, Prefix
from v6ops.probe.happy import HappyEyeballsError, clamp_attempt_delay, connect, interleave

V6A, V6B, V6C = "2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::3"
V4A, V4B, V4C = "198.51.100.1", "198.51.100.2", "198.51.100.3"


def race(resolver: FakeResolver, connector: FakeConnector, host: str = "dual.test", **kw: object):
    async def go():
        return await connect(host, 443, resolver=resolver, connector=connector, source_for=global_sources(),
                             nat64_prefix=kw.pop("nat64_prefix", None), **kw)
    sock, trace = run_virtual(go())
    sock.close()
    # On virtual time nothing is late: every attempt starts exactly when the algorithm made it due.
    assert [a.started_ms for a in trace.attempts] == [a.scheduled_ms for a in trace.attempts]
    return trace


def starts(connector: FakeConnector) -> list[tuple[str, float]]:
    return [(a, round(t, 6)) for a, t in connector.started]


def test_aaaa_is_asked_first_and_a_right_after():
    resolver = FakeResolver({("dual.test", 6): Answer(0.030, [V6A]), ("dual.test", 4): Answer(0.010, [V4A])})
    race(resolver, FakeConnector({V6A: Outcome(0.005)}))
    assert [(rd, t) for _, rd, t in resolver.asked] == [("AAAA", 0.0), ("A", 0.0)]


def test_positive_aaaa_starts_ipv6_at_once_without_waiting_for_a():
    resolver = FakeResolver({("dual.test", 6): Answer(0.010, [V6A]), ("dual.test", 4): Answer(0.100, [V4A])})
    connector = FakeConnector({V6A: Outcome(0.005)})
    trace = race(resolver, connector)
    assert starts(connector) == [(V6A, 0.010)]
    assert trace.winner == Address.parse(V6A) and trace.connected_ms == 15.0
    assert not trace.resolution_delay_used


def test_a_first_waits_resolution_delay_and_aaaa_inside_it_goes_first():
    resolver = FakeResolver({("dual.test", 6): Answer(0.040, [V6A]), ("dual.test", 4): Answer(0.010, [V4A])})
    connector = FakeConnector({V6A: Outcome(0.005)})
    trace = race(resolver, connector)
    assert starts(connector) == [(V6A, 0.040)]
    assert trace.resolution_delay_used


def test_a_first_and_slow_aaaa_start_ipv4_after_50ms_then_merge_the_late_aaaa():
    resolver = FakeResolver({("dual.test", 6): Answer(0.200, [V6A]), ("dual.test", 4): Answer(0.010, [V4A])})
    connector = FakeConnector({V6A: Outcome(0.005)})  # IPv4 hangs; the late AAAA answer wins
    trace = race(resolver, connector)
    assert starts(connector) == [(V4A, 0.060), (V6A, 0.310)]
    assert trace.winner == Address.parse(V6A)
    assert [a.outcome for a in trace.attempts] == ["cancelled", "connected"]


def test_negative_aaaa_then_a_starts_at_once():
    resolver = FakeResolver({("v4.test", 6): Answer(0.005, []), ("v4.test", 4): Answer(0.020, [V4A])})
    connector = FakeConnector({V4A: Outcome(0.001)})
    race(resolver, connector, host="v4.test")
    assert starts(connector) == [(V4A, 0.020)]


def test_a_first_with_negative_aaaa_inside_the_delay_does_not_wait_out_the_50ms():
    resolver = FakeResolver({("v4.test", 6): Answer(0.020, []), ("v4.test", 4): Answer(0.010, [V4A])})
    connector = FakeConnector({V4A: Outcome(0.001)})
    race(resolver, connector, host="v4.test")
    assert starts(connector) == [(V4A, 0.020)]


@pytest.mark.parametrize(("delay", "expected"), [(0.250, 0.250), (0.001, 0.010), (0.1, 0.1), (5.0, 2.0)])
def test_attempts_are_spaced_by_the_clamped_connection_attempt_delay(delay, expected):
    resolver = FakeResolver({("dual.test", 6): Answer(0.0, [V6A]), ("dual.test", 4): Answer(0.0, [V4A])})
    connector = FakeConnector({V4A: Outcome(0.003)})  # IPv6 is black-holed
    trace = race(resolver, connector, attempt_delay=delay)
    assert starts(connector) == [(V6A, 0.0), (V4A, expected)]
    assert trace.winner == Address.parse(V4A)
    assert trace.connected_ms == pytest.approx(expected * 1000 + 3)
    assert clamp_attempt_delay(delay) == expected


def test_a_failed_attempt_starts_the_next_at_once():
    resolver = FakeResolver({("dual.test", 6): Answer(0.0, [V6A]), ("dual.test", 4): Answer(0.0, [V4A])})
    connector = FakeConnector({V6A: Outcome(0.020, ok=False), V4A: Outcome(0.002)})
    trace = race(resolver, connector)
    assert starts(connector) == [(V6A, 0.0), (V4A, 0.020)]
    assert trace.attempts[0].outcome == "failed" and "refused" in (trace.attempts[0].error or "")


def test_families_interleave_after_first_address_family_count():
    v6, v4 = [V6A, V6B, V6C], [V4A, V4B, V4C]
    resolver = FakeResolver({("dual.test", 6): Answer(0.0, v6), ("dual.test", 4): Answer(0.0, v4)})
    connector = FakeConnector({V4C: Outcome(0.001)})
    race(resolver, connector, first_address_family_count=2, attempt_delay=0.1)
    assert [a for a, _ in connector.started] == [V6A, V6B, V4A, V6C, V4B, V4C]
    assert [round(t, 6) for _, t in connector.started] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def test_interleave_default_count_alternates_from_the_first():
    addrs = [Address.parse(a) for a in (V6A, V6B, V4A, V4B, V4C)]
    assert [str(a) for a in interleave(addrs)] == [V6A, V4A, V6B, V4B, V4C]


def test_winner_cancels_the_rest_and_closes_late_sockets():
    resolver = FakeResolver({("dual.test", 6): Answer(0.0, [V6A, V6B]), ("dual.test", 4): Answer(0.0, [V4A])})
    connector = FakeConnector({V4A: Outcome(0.010)})
    trace = race(resolver, connector)
    assert [a.outcome for a in trace.attempts] == ["cancelled", "connected"]
    assert len(trace.attempts) == 2  # V6B was never started


def test_every_attempt_failing_raises_with_the_trace():
    resolver = FakeResolver({("dual.test", 6): Answer(0.0, [V6A]), ("dual.test", 4): Answer(0.0, [V4A])})
    connector = FakeConnector({V6A: Outcome(0.01, ok=False), V4A: Outcome(0.02, ok=False)})
    with pytest.raises(HappyEyeballsError) as info:
        race(resolver, connector)
    assert [a.outcome for a in info.value.trace.attempts] == ["failed", "failed"]
    assert V6A in str(info.value) and V4A in str(info.value)


def test_nxdomain_gives_no_address():
    resolver = FakeResolver({("gone.test", 6): Answer(0.0, error="nxdomain"), ("gone.test", 4): Answer(0.0, error="nxdomain")})
    with pytest.raises(HappyEyeballsError, match=r"no address.*does not exist"):
        race(resolver, FakeConnector({}), host="gone.test")


def test_overall_timeout():
    resolver = FakeResolver({("dual.test", 6): Answer(0.0, [V6A]), ("dual.test", 4): Answer(0.0, [V4A])})
    with pytest.raises(TimeoutError):
        race(resolver, FakeConnector({}), timeout=1.0)


def test_rfc6724_order_is_used_before_interleaving():
    # ULA (precedence 3) sorts after IPv4 (35) and global IPv6 (40): RFC 6724 section 10.6 example.
    resolver = FakeResolver({("dual.test", 6): Answer(0.0, ["fd00::1", V6A]), ("dual.test", 4): Answer(0.0, [V4A])})
    connector = FakeConnector({"fd00::1": Outcome(0.001)})
    race(resolver, connector, attempt_delay=0.01)
    assert [a for a, _ in connector.started] == [V6A, V4A, "fd00::1"]


def test_ipv4_literal_is_synthesized_with_the_discovered_nat64_prefix():
    # RFC 7050: the DNS64 answers ipv4only.arpa with 192.0.0.170 under the network's prefix.
    resolver = FakeResolver({("ipv4only.arpa", 6): Answer(0.0, ["2001:db8:64::c000:aa", "2001:db8:64::c000:ab"])})
    connector = FakeConnector({"2001:db8:64::c633:6401": Outcome(0.004)})
    trace = race(resolver, connector, host=V4A, nat64_prefix="discover")
    assert starts(connector) == [("2001:db8:64::c633:6401", 0.0)]
    assert trace.nat64_prefix == "2001:db8:64::/96" and trace.attempts[0].synthesized


def test_ipv4_literal_without_dns64_is_tried_as_is():
    resolver = FakeResolver({("ipv4only.arpa", 6): Answer(0.0, error="nxdomain")})
    connector = FakeConnector({V4A: Outcome(0.004)})
    trace = race(resolver, connector, host=V4A, nat64_prefix="discover")
    assert starts(connector) == [(V4A, 0.0)] and trace.nat64_prefix is None


def test_ipv4_literal_falls_back_from_nat64_to_native_ipv4():
    connector = FakeConnector({V4A: Outcome(0.004)})
    trace = race(FakeResolver({}), connector, host=V4A, nat64_prefix=Prefix.parse("64:ff9b::/96"))
    assert starts(connector) == [("64:ff9b::c633:6401", 0.0), (V4A, 0.25)]
    assert trace.winner == Address.parse(V4A)


# --- real sockets on loopback -------------------------------------------------------------

class LoopbackResolver:
    def __init__(self, table: dict[tuple[str, int], list[str]]) -> None:
        self.table = table

    async def lookup(self, name: str, version: int) -> list[Address]:
        return [Address.parse(a) for a in self.table.get((name, version), [])]


def _listen(family: int, host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(16)
    return sock


def test_real_loopback_prefers_ipv6_and_streams_work():
    v6 = _listen(socket.AF_INET6, "::1")
    port = v6.getsockname()[1]

    async def go():
        from v6ops.probe.happy import open_connection

        async def serve(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, sock=v6)
        resolver = LoopbackResolver({("dual.test", 6): ["::1"], ("dual.test", 4): ["127.0.0.1"]})
        reader, writer = await open_connection("dual.test", port, resolver=resolver)
        peer = writer.get_extra_info("peername")[0]
        writer.write(b"hello\n")
        echoed = await reader.readline()
        writer.close()
        server.close()
        return peer, echoed

    peer, echoed = asyncio.run(go())
    assert peer == "::1" and echoed == b"hello\n"


def test_real_refused_ipv6_falls_back_to_ipv4_at_once():
    v4 = _listen(socket.AF_INET, "127.0.0.1")
    port = v4.getsockname()[1]  # nothing listens on [::1]:port, so IPv6 is refused at once
    try:
        async def go():
            resolver = LoopbackResolver({("dual.test", 6): ["::1"], ("dual.test", 4): ["127.0.0.1"]})
            return await connect("dual.test", port, resolver=resolver, attempt_delay=2.0)

        sock, trace = asyncio.run(go())
        sock.close()
    finally:
        v4.close()
    assert trace.winner == Address.parse("127.0.0.1")
    assert [a.outcome for a in trace.attempts] == ["failed", "connected"]
    assert trace.attempts[1].started_ms < 1000  # not the 2 s attempt delay: the refusal started it
