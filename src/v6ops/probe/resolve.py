"""A and AAAA look-ups with dnspython, and NAT64 prefix discovery (RFC 7050).

The Happy Eyeballs racer asks for one family at a time (AAAA, then A right after) so it
can act on whichever answers first; ``Resolver`` is that one-family interface, and tests
substitute their own.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from v6ops.addr import Address, AddressValueError, Prefix
from v6ops.addr.embedded import nat64_extract
from v6ops.probe.target import split_host_port

DEFAULT_TIMEOUT = 5.0


class NameNotFoundError(ValueError):
    """The name does not exist (NXDOMAIN): no family will ever answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name!r}: the name does not exist (NXDOMAIN)")


class LookupFailedError(ValueError):
    """A look-up that got no usable answer (timeout, SERVFAIL, refused); the message says which."""

    def __init__(self, name: str, rdtype: str, reason: str) -> None:
        self.name = name
        self.rdtype = rdtype
        self.reason = reason
        super().__init__(f"{name!r} {rdtype}: {reason}")


class ResolverConfigError(ValueError):
    """A ``--resolver`` value that is not ``address`` or ``address:port`` (IPv6 in brackets with a port)."""


class Resolver(Protocol):
    async def lookup(self, name: str, version: int) -> list[Address]:
        """The addresses of ``name`` for IPv``version`` (AAAA for 6, A for 4); [] when there are none.

        Raises ``NameNotFoundError`` when the name does not exist and ``LookupFailedError`` on other errors.
        """
        ...


def parse_nameserver(text: str) -> tuple[str, int]:
    """``192.0.2.53``, ``192.0.2.53:5353``, ``2001:db8::53`` or ``[2001:db8::53]:5353``."""
    try:
        if text.startswith("[") or text.count(":") == 1:
            host, port = split_host_port(text, default_port=53)
            return str(Address.parse(host)), port
        return str(Address.parse(text)), 53
    except (AddressValueError, ValueError) as exc:
        raise ResolverConfigError(f"resolver {text!r}: {exc}") from exc


class DnsResolver:
    """dnspython's stub resolver: the system's (``/etc/resolv.conf``) or the given name servers."""

    def __init__(self, nameservers: Sequence[str] = (), *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.nameservers = [parse_nameserver(n) for n in nameservers]
        if self.nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in self.nameservers]
        else:
            self._resolver = dns.asyncresolver.Resolver()
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout
        self._resolver.cache = None

    @property
    def description(self) -> str:
        if not self.nameservers:
            return "system"
        return ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nameservers)

    async def lookup(self, name: str, version: int) -> list[Address]:
        return [Address.parse(text) for text in await self.records(name, "AAAA" if version == 6 else "A")]

    async def records(self, name: str, rdtype: str) -> list[str]:
        """The records of one type as text (NS and SOA for the domain checks, A and AAAA for ``lookup``)."""
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            raise NameNotFoundError(name) from exc
        except dns.resolver.NoNameservers as exc:
            raise LookupFailedError(name, rdtype, "no name server answered (SERVFAIL or refused)") from exc
        except dns.exception.Timeout as exc:
            raise LookupFailedError(name, rdtype, "timed out") from exc
        except dns.exception.DNSException as exc:
            raise LookupFailedError(name, rdtype, str(exc) or type(exc).__name__) from exc
        if answer.rrset is None:
            return []
        wanted = dns.rdatatype.from_text(rdtype)
        return [r.to_text() for r in answer.rrset if r.rdtype == wanted]


class SystemResolver:
    """``getaddrinfo`` for one family at a time: /etc/hosts and nsswitch, as the OS resolves names."""

    description = "getaddrinfo"

    async def lookup(self, name: str, version: int) -> list[Address]:
        import asyncio

        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_NONAME:
                return []
            raise LookupFailedError(name, "AAAA" if version == 6 else "A", exc.strerror or str(exc)) from exc
        return list(dict.fromkeys(Address.parse(str(info[4][0]).split("%", 1)[0]) for info in infos))


# RFC 7050 section 2.2: the well-known IPv4-only name and its two well-known addresses.
IPV4ONLY_ARPA = "ipv4only.arpa"
WELL_KNOWN_IPV4 = (Address.parse("192.0.0.170"), Address.parse("192.0.0.171"))
_PREFIX_LENGTHS = (96, 64, 56, 48, 40, 32)


def nat64_prefix_from(addresses: Sequence[Address]) -> list[Prefix]:
    """RFC 7050 section 3: the Pref64::/n found in synthesized AAAA answers for ipv4only.arpa.

    Each answer is searched for a well-known IPv4 address at the places RFC 6052 section 2.2
    puts it, longest prefix first; bits 64-71 must be zero (RFC 6052 section 2.2).
    """
    found: list[Prefix] = []
    for address in addresses:
        if address.version != 6:
            continue
        for length in _PREFIX_LENGTHS:
            if length < 96 and (address.value >> 56) & 0xFF:
                continue
            if nat64_extract(address, length) in WELL_KNOWN_IPV4:
                mask = ((1 << length) - 1) << (128 - length)
                prefix = Prefix(6, address.value & mask, length)
                if prefix not in found:
                    found.append(prefix)
                break
    return found


async def discover_nat64_prefix(resolver: Resolver) -> Prefix | None:
    """The network's NAT64 prefix from DNS64 (RFC 7050), or None when there is no DNS64."""
    try:
        prefixes = nat64_prefix_from(await resolver.lookup(IPV4ONLY_ARPA, 6))
    except (NameNotFoundError, LookupFailedError):
        return None
    return prefixes[0] if prefixes else None
