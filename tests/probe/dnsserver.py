"""A small authoritative DNS server for tests (dnspython): A/AAAA/NS records from the command line.

    python -m tests.probe.dnsserver --listen 127.0.0.1:0 --port-file F  dual.test=A:192.0.2.1 dual.test=AAAA:2001:db8::1

Names with no record get NXDOMAIN; a name with records of the other type gets an empty NOERROR
answer. An owner ``*.zone`` answers for every name under ``zone`` (the benchmark's 10,000 names). ``--delay AAAA=0.2`` holds back every AAAA answer.
It serves UDP and TCP on each ``--listen`` address (repeatable), so it runs inside a network
namespace with ``ip netns exec`` as well as on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import struct
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

SO_RCVBUFFORCE = 33  # Linux (asm-generic/socket.h); not exported by Python's socket module


class Zone:
    def __init__(self, records: list[str], delays: dict[str, float]) -> None:
        self.records: dict[tuple[dns.name.Name, str], list[str]] = defaultdict(list)
        self.names: set[dns.name.Name] = set()
        for spec in records:
            name, value = spec.split("=", 1)
            rdtype, data = value.split(":", 1)
            owner = dns.name.from_text(name)
            self.records[(owner, rdtype.upper())].append(data)
            self.names.add(owner)
        self.delays = {k.upper(): v for k, v in delays.items()}
        # Wire-format A/AAAA data by lower-case owner text, for the fast path.
        self.fast: dict[tuple[str, int], list[bytes]] = {}
        for (owner, rdtype), datas in self.records.items():
            if rdtype in ("A", "AAAA"):
                family = socket.AF_INET if rdtype == "A" else socket.AF_INET6
                self.fast[(owner.to_text().lower(), 1 if rdtype == "A" else 28)] = [socket.inet_pton(family, d) for d in datas]

    def fast_answer(self, wire: bytes) -> bytes | None:
        """A positive A/AAAA answer built by hand (the benchmark's 10,000 names); None sends the query the slow way.

        RFC 1035 section 4.1: header, the question copied, each answer named by a pointer to it (0xc00c).
        """
        if len(wire) < 17 or wire[4:6] != b"\x00\x01" or wire[2] & 0x78:  # one question, opcode QUERY
            return None
        labels, i = [], 12
        while i < len(wire) and wire[i]:
            length = wire[i]
            if length & 0xC0:
                return None
            labels.append(wire[i + 1:i + 1 + length].decode("ascii", "replace").lower())
            i += 1 + length
        end = i + 5
        if end > len(wire):
            return None
        qtype, qclass = struct.unpack("!HH", wire[i + 1:end])
        if qclass != 1 or qtype not in (1, 28) or self.delays:
            return None
        name = ".".join(labels) + "."
        datas = self.fast.get((name, qtype)) or self.fast.get(("*." + name.split(".", 1)[1], qtype) if "." in name else ("", 0))
        if not datas:
            return None
        flags = 0x8400 | (wire[2] & 0x01) << 8  # QR, AA, and RD copied from the query
        header = wire[:2] + struct.pack("!HHHHH", flags, 1, len(datas), 0, 0)
        answers = b"".join(struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(d)) + d for d in datas)
        return header + wire[12:end] + answers

    async def answer(self, wire: bytes) -> bytes:
        fast = self.fast_answer(wire)
        if fast is not None:
            return fast
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        rdtype = dns.rdatatype.to_text(question.rdtype)
        await asyncio.sleep(self.delays.get(rdtype, 0.0))
        name = question.name
        if name not in self.names and len(name.labels) > 1:
            wildcard = dns.name.Name((b"*", *name.labels[1:]))
            if wildcard in self.names:
                name = wildcard
        owner = question.name
        for _hop in range(8):  # as a recursive server does: the CNAME chain, then the target's records
            alias = self.records.get((name, "CNAME"), [])
            if not alias or rdtype == "CNAME":
                break
            response.answer.append(dns.rrset.from_text_list(owner, 60, "IN", "CNAME", alias))
            owner = name = dns.name.from_text(alias[0])
        data = self.records.get((name, rdtype), [])
        if data:
            response.answer.append(dns.rrset.from_text_list(owner, 60, "IN", rdtype, data))
        elif name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


class Udp(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

        self.replies: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        fast = self.zone.fast_answer(data)
        if fast is not None:
            self.transport.sendto(fast, addr)  # type: ignore[attr-defined]
            return

        async def reply() -> None:
            self.transport.sendto(await self.zone.answer(data), addr)  # type: ignore[attr-defined]

        task = asyncio.ensure_future(reply())
        self.replies.add(task)
        task.add_done_callback(self.replies.discard)


async def serve(zone: Zone, listen: list[str], port: int) -> int:
    """UDP and TCP on ``port`` at every address (with port 0, the port UDP got first); closed again on failure."""
    loop = asyncio.get_running_loop()
    opened: list[asyncio.BaseTransport | asyncio.Server] = []

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        reply = await zone.answer(await reader.readexactly(length))
        writer.write(struct.pack("!H", len(reply)) + reply)
        await writer.drain()
        writer.close()

    try:
        for host in listen:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            transport, _ = await loop.create_datagram_endpoint(lambda: Udp(zone), local_addr=(host, port), family=family)
            opened.append(transport)
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError):  # bursts of thousands of queries (the benchmark) must not overflow it
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
            port = transport.get_extra_info("sockname")[1]
            opened.append(await asyncio.start_server(tcp, host, port, family=family))
    except OSError:
        for item in opened:
            item.close()
        raise
    return port


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", action="append", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--delay", action="append", default=[])
    parser.add_argument("records", nargs="*")
    args = parser.parse_args()
    zone = Zone(args.records, {k: float(v) for k, v in (d.split("=") for d in args.delay)})
    for _attempt in range(50):
        try:
            port = await serve(zone, args.listen, args.port)
            break
        except OSError:
            if args.port:
                raise
            # Port 0: UDP got a free port that TCP (or another address) cannot have; try another.
    else:
        raise SystemExit("no port free on every listen address for both UDP and TCP")
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as fh:
            fh.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
