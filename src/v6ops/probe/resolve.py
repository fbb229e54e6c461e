"""A and AAAA look-ups with dnspython, and NAT64 prefix discovery (RFC 7050).

The Happy Eyeballs racer asks for one family at a time (AAAA, then A right after) so it
can act on whichever answers first; ``Resolver`` is that one-family interface, and tests
substitute their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from v6ops.addr import Address, AddressValueError, Prefix
from v6ops.addr.embedded import nat64_extract
from v6ops.probe import dnswire
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
    """A stub resolver for the system's name servers (``/etc/resolv.conf``, read by dnspython) or the given ones.

    A and AAAA go through ``dnswire`` (the probe's hot path); other types (NS, SOA) through dnspython.
    ``timeout`` bounds a whole look-up; a lost datagram is asked again after a third of it, the
    servers taken in turn as dnspython and glibc do.
    """

    def __init__(self, nameservers: Sequence[str] = (), *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.nameservers = [parse_nameserver(n) for n in nameservers]
        if self.nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in self.nameservers]
        else:
            self._resolver = dns.asyncresolver.Resolver()
            self.nameservers = [(str(ns), self._resolver.port) for ns in self._resolver.nameservers]
        self.timeout = timeout
        self.attempt_timeout = max(timeout / 3, 0.5)
        self._resolver.lifetime = timeout
        self._resolver.timeout = self.attempt_timeout
        self._resolver.cache = None

    @property
    def description(self) -> str:
        if not self.nameservers:
            return "system"
        return ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nameservers)

    async def lookup(self, name: str, version: int) -> list[Address]:
        rdtype = "AAAA" if version == 6 else "A"
        qtype = dnswire.TYPE_AAAA if version == 6 else dnswire.TYPE_A
        if not self.nameservers:
            raise LookupFailedError(name, rdtype, "no name servers configured")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        reason = f"timed out after {self.timeout:g} s"
        while loop.time() < deadline:
            for server in self.nameservers:
                left = min(self.attempt_timeout, deadline - loop.time())
                if left <= 0:
                    break
                try:
                    answer = await dnswire.query(server, name, qtype, attempt_timeout=left, lifetime=left)
                except TimeoutError:
                    continue
                except (OSError, dnswire.WireError) as exc:
                    reason = f"{server[0]} port {server[1]}: {getattr(exc, 'strerror', None) or exc}"
                    continue
                if answer.rcode == dnswire.RCODE_NOERROR:
                    return [Address(version, int.from_bytes(packed, "big")) for packed in answer.addresses]
                if answer.rcode == dnswire.RCODE_NXDOMAIN:
                    raise NameNotFoundError(name)
                reason = f"{server[0]} port {server[1]} answered {dnswire.RCODE_NAMES.get(answer.rcode, answer.rcode)}"
        raise LookupFailedError(name, rdtype, reason)

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
