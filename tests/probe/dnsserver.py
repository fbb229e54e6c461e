"""A small authoritative DNS server for tests (dnspython): A/AAAA/NS records from the command line.

    python -m tests.probe.dnsserver --listen 127.0.0.1:0 --port-file F  dual.test=A:192.0.2.1 dual.test=AAAA:2001:db8::1

Names under a listed name's zone that have no record get NXDOMAIN; a name with records of the
other type gets an empty NOERROR answer. ``--delay AAAA=0.2`` holds back every AAAA answer.
It serves UDP and TCP on each ``--listen`` address (repeatable), so it runs inside a network
namespace with ``ip netns exec`` as well as on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


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

    async def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        rdtype = dns.rdatatype.to_text(question.rdtype)
        await asyncio.sleep(self.delays.get(rdtype, 0.0))
        data = self.records.get((question.name, rdtype), [])
        if data:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rdtype, data))
        elif question.name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


class Udp(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

        self.replies: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        async def reply() -> None:
            self.transport.sendto(await self.zone.answer(data), addr)  # type: ignore[attr-defined]

        task = asyncio.ensure_future(reply())
        self.replies.add(task)
        task.add_done_callback(self.replies.discard)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", action="append", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--delay", action="append", default=[])
    parser.add_argument("records", nargs="*")
    args = parser.parse_args()
    zone = Zone(args.records, {k: float(v) for k, v in (d.split("=") for d in args.delay)})
    loop = asyncio.get_running_loop()
    port = args.port
    for host in args.listen:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(lambda: Udp(zone), local_addr=(host, port), family=family)
        port = transport.get_extra_info("sockname")[1]

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = await zone.answer(await reader.readexactly(length))
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
            writer.close()

        await asyncio.start_server(tcp, host, port, family=family)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as fh:
            fh.write(str(port))
        import os

        os.replace(args.port_file + ".tmp", args.port_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
