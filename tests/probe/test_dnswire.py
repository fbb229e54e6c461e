"""The A/AAAA wire codec against dnspython as the oracle, and against broken input."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.probe.servers import dns_server
from v6ops.addr import Address
from v6ops.probe import dnswire
from v6ops.probe.resolve import DnsResolver, LookupFailedError, NameNotFoundError

labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-") and not s.endswith("-"))
names = st.lists(labels, min_size=1, max_size=4).map(lambda ls: ".".join(ls) + ".")


@st.composite
def responses(draw: st.DrawFn) -> dict:
    """What goes into a response: the question, a CNAME chain and A/AAAA records (some for other names), in any order."""
    qname = draw(names)
    chain = [qname] + [n for n in draw(st.lists(names, max_size=3, unique=True)) if n != qname]
    spec = {"qname": qname, "qtype": draw(st.sampled_from([dnswire.TYPE_A, dnswire.TYPE_AAAA])),
            "id": draw(st.integers(0, 65535)), "chain": chain,
            "v4": draw(st.lists(st.integers(0, 2**32 - 1), max_size=3, unique=True)),
            "v6": draw(st.lists(st.integers(0, 2**128 - 1), max_size=3, unique=True)), "unrelated": draw(st.booleans())}
    spec["order"] = draw(st.permutations(range(len(chain) + 2)))
    return spec


def build(spec: dict) -> tuple[bytes, list[bytes]]:
    """The response as dnspython writes it (outside the strategy: dnspython uses ``random``), and the addresses to expect."""
    qtype, chain = spec["qtype"], spec["chain"]
    rdtype = "A" if qtype == dnswire.TYPE_A else "AAAA"
    response = dns.message.make_response(dns.message.make_query(spec["qname"], rdtype, id=spec["id"]))
    rrsets = [dns.rrset.from_text(a, 60, "IN", "CNAME", b) for a, b in itertools.pairwise(chain)]
    if spec["v4"]:
        rrsets.append(dns.rrset.from_text_list(chain[-1], 60, "IN", "A", [str(ipaddress.IPv4Address(x)) for x in spec["v4"]]))
    if spec["v6"]:
        rrsets.append(dns.rrset.from_text_list(chain[-1], 60, "IN", "AAAA", [str(ipaddress.IPv6Address(x)) for x in spec["v6"]]))
    if spec["unrelated"]:  # an unrelated name's address must not be taken
        rrsets.append(dns.rrset.from_text("unrelated.example.", 60, "IN", rdtype, "192.0.2.99" if qtype == 1 else "2001:db8::99"))
    response.answer = [rrsets[i] for i in spec["order"] if i < len(rrsets)]
    if qtype == dnswire.TYPE_A:
        return response.to_wire(), [ipaddress.IPv4Address(x).packed for x in spec["v4"]]
    return response.to_wire(), [ipaddress.IPv6Address(x).packed for x in spec["v6"]]


@settings(max_examples=300)
@given(responses())
def test_parse_matches_dnspython(spec):
    wire, expected = build(spec)
    answer = dnswire.parse_response(wire, spec["qname"], spec["qtype"], spec["id"])
    assert answer.rcode == 0 and not answer.truncated
    assert sorted(answer.addresses) == sorted(expected)
    # dnspython's own reading of the same message agrees.
    oracle = dns.message.from_wire(wire).resolve_chaining().answer
    assert sorted(r.to_wire() for r in oracle or []) == sorted(expected)


@given(names, st.sampled_from([1, 28]), st.integers(0, 65535))
def test_query_is_what_dnspython_reads(name, qtype, query_id):
    message = dns.message.from_wire(dnswire.build_query(name, qtype, query_id))
    assert message.id == query_id and message.flags & dns.flags.RD and message.edns == 0
    assert message.payload == dnswire.EDNS_PAYLOAD
    assert (message.question[0].name.to_text(), message.question[0].rdtype) == (name, qtype)


@given(st.binary(max_size=200))
def test_garbage_is_a_wire_error_never_a_crash(data):
    with contextlib.suppress(dnswire.WireError):  # anything else (IndexError, UnicodeError ...) fails the test
        dnswire.parse_response(data, "x.test", 1, 0)


def test_wrong_id_question_and_pointer_loop_are_refused():
    query = dns.message.make_query("a.test", "A", id=4242)
    wire = dns.message.make_response(query).to_wire()
    with pytest.raises(dnswire.WireError, match="ID"):
        dnswire.parse_response(wire, "a.test", 1, (query.id + 1) % 65536)
    with pytest.raises(dnswire.WireError, match="not our question"):
        dnswire.parse_response(wire, "b.test", 1, query.id)
    loop = wire[:12] + b"\xc0\x0c" + wire[len(wire) - 4:]
    with pytest.raises(dnswire.WireError, match="loop"):
        dnswire.parse_response(loop, "a.test", 1, query.id)
    with pytest.raises(dnswire.WireError, match="1-63"):
        dnswire.build_query("a" * 64 + ".test", 1, 1)


def test_resolver_over_udp_tcp_fallback_nxdomain_and_dead_server(tmp_path):
    many = [f"big.test=AAAA:2001:db8::{i:x}" for i in range(1, 120)]  # 119 AAAA: over 1232 bytes, so TC=1 then TCP
    with dns_server(["dual.test=A:192.0.2.1", "dual.test=AAAA:2001:db8::1", "alias.test=CNAME:dual.test.", *many],
                    tmp=tmp_path) as port:
        resolver = DnsResolver([f"127.0.0.1:{port}"], timeout=2)

        async def go():
            return (await resolver.lookup("dual.test", 4), await resolver.lookup("alias.test", 6),
                    await resolver.lookup("big.test", 6), await resolver.lookup("dual.test.", 6))

        v4, alias, big, dotted = asyncio.run(go())
        assert v4 == [Address.parse("192.0.2.1")] and alias == [Address.parse("2001:db8::1")] == dotted
        assert len(big) == 119
        with pytest.raises(NameNotFoundError):
            asyncio.run(resolver.lookup("gone.test", 4))
    dead = DnsResolver([f"127.0.0.1:{port}"], timeout=1)
    with pytest.raises(LookupFailedError, match=r"127\.0\.0\.1 port"):
        asyncio.run(dead.lookup("dual.test", 4))
