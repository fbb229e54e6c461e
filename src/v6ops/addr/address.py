"""The two value types of the address core: ``Address`` and ``Prefix``.

Both hold exact Python integers, so prefix math never loses bits on a /128 or
overflows on a /0, and both print canonical text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Union

from v6ops.addr.errors import AddressValueError, PrefixValueError
from v6ops.addr.parse import parse_ipv4, parse_ipv6, parse_prefix_length
from v6ops.addr.text import format_address

WIDTH = {4: 32, 6: 128}


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}: {text!r}")
    if not text:
        raise AddressValueError(text, "the text is empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise AddressValueError(text, "it contains white space")
    if not text.isascii():
        raise AddressValueError(text, "it contains non-ASCII characters")
    return text


def _parse_any(text: str, allow_zone: bool) -> tuple[int, int, str | None]:
    if ":" in text:
        value, zone = parse_ipv6(text, allow_zone=allow_zone)
        return 6, value, zone
    if "." in text:
        if "%" in text:
            raise AddressValueError(text, "IPv4 addresses have no zone ID")
        return 4, parse_ipv4(text), None
    raise AddressValueError(text, "it has neither ':' (IPv6) nor '.' (IPv4)")


class Address:
    """One IPv4 or IPv6 address, optionally with an RFC 4007 zone."""

    __slots__ = ("value", "version", "zone")

    version: int
    value: int
    zone: str | None

    def __init__(self, version: int, value: int, zone: str | None = None) -> None:
        if version not in WIDTH:
            raise ValueError(f"version must be 4 or 6, not {version!r}")
        if not 0 <= value < (1 << WIDTH[version]):
            raise ValueError(f"{value} is out of range for IPv{version}")
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "zone", zone)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Address is immutable")

    @classmethod
    def parse(cls, text: str, *, allow_zone: bool = False) -> Address:
        text = _check_text(text)
        if "/" in text:
            raise AddressValueError(text, "it has a prefix length; use Prefix.parse for 'address/length'")
        version, value, zone = _parse_any(text, allow_zone)
        return cls(version, value, zone)

    @property
    def width(self) -> int:
        return WIDTH[self.version]

    @property
    def compressed(self) -> str:
        return format_address(self.version, self.value)

    @property
    def packed(self) -> bytes:
        return self.value.to_bytes(self.width // 8, "big")

    def __str__(self) -> str:
        text = self.compressed
        return f"{text}%{self.zone}" if self.zone else text

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"

    def __int__(self) -> int:
        return self.value

    def _key(self) -> tuple[int, int, str]:
        return (self.version, self.value, self.zone or "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Address) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Address) -> bool:
        return self._key() <= other._key()

    def __add__(self, offset: int) -> Address:
        return Address(self.version, self.value + offset)

    def __sub__(self, offset: int) -> Address:
        return Address(self.version, self.value - offset)

    def as_prefix(self) -> Prefix:
        return Prefix(self.version, self.value, self.width)

    @property
    def reverse_name(self) -> str:
        """RFC 1035 3.5 in-addr.arpa / RFC 3596 2.5 ip6.arpa name, without the trailing dot."""
        return self.as_prefix().reverse_name


class Prefix:
    """A CIDR block: network integer plus length. Host bits are always zero."""

    __slots__ = ("length", "network", "version")

    version: int
    network: int
    length: int

    def __init__(self, version: int, network: int, length: int) -> None:
        if version not in WIDTH:
            raise ValueError(f"version must be 4 or 6, not {version!r}")
        width = WIDTH[version]
        if not 0 <= length <= width:
            raise ValueError(f"prefix length {length} is out of range for IPv{version}")
        if not 0 <= network < (1 << width):
            raise ValueError(f"{network} is out of range for IPv{version}")
        if network & ((1 << (width - length)) - 1):
            raise PrefixValueError(
                f"{format_address(version, network)}/{length}", "has host bits set"
            )
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "network", network)
        object.__setattr__(self, "length", length)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Prefix is immutable")

    @classmethod
    def parse(cls, text: str, *, strict: bool = True) -> Prefix:
        """``addr/len``; a bare address is its host prefix (/32 or /128).

        With ``strict`` (the default) host bits must be zero, because
        ``2001:db8::1/32`` is more often a typo than a request for 2001:db8::/32.
        """
        text = _check_text(text)
        addr_text, sep, len_text = text.partition("/")
        if "/" in len_text:
            raise AddressValueError(text, "it has more than one '/'", "an IPv4 or IPv6 prefix")
        try:
            version, value, _ = _parse_any(addr_text, allow_zone=False)
        except AddressValueError as exc:
            raise AddressValueError(text, exc.reason, "an IPv4 or IPv6 prefix") from None
        width = WIDTH[version]
        length = parse_prefix_length(len_text, text, width) if sep else width
        host_mask = (1 << (width - length)) - 1
        if value & host_mask:
            network = value & ~host_mask
            if strict:
                raise PrefixValueError(
                    text,
                    f"has host bits set; the prefix on its boundary is {format_address(version, network)}/{length}",
                )
            value = network
        return cls(version, value, length)

    @property
    def width(self) -> int:
        return WIDTH[self.version]

    @property
    def first(self) -> Address:
        return Address(self.version, self.network)

    @property
    def last(self) -> Address:
        return Address(self.version, self.broadcast)

    @property
    def broadcast(self) -> int:
        """The highest integer in the block (called broadcast in IPv4 only)."""
        return self.network | ((1 << (self.width - self.length)) - 1)

    @property
    def num_addresses(self) -> int:
        return 1 << (self.width - self.length)

    @property
    def netmask(self) -> int:
        return ((1 << self.length) - 1) << (self.width - self.length)

    def __str__(self) -> str:
        return f"{format_address(self.version, self.network)}/{self.length}"

    def __repr__(self) -> str:
        return f"Prefix({str(self)!r})"

    def _key(self) -> tuple[int, int, int]:
        return (self.version, self.network, self.length)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prefix) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Prefix) -> bool:
        return self._key() < other._key()

    def __contains__(self, other: Union[Address, Prefix]) -> bool:
        return self.contains(other)

    def contains(self, other: Union[Address, Prefix]) -> bool:
        if other.version != self.version:
            return False
        if isinstance(other, Address):
            return self.network <= other.value <= self.broadcast
        return other.length >= self.length and self.network <= other.network <= self.broadcast

    def overlaps(self, other: Prefix) -> bool:
        return (
            other.version == self.version
            and self.network <= other.broadcast
            and other.network <= self.broadcast
        )

    def count_subnets(self, new_length: int) -> int:
        self._check_longer(new_length)
        return 1 << (new_length - self.length)

    def subnet(self, index: int, new_length: int) -> Prefix:
        """The ``index``-th (from 0) sub-prefix of length ``new_length``; negative counts from the end."""
        count = self.count_subnets(new_length)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"{self} has {count} /{new_length} subnets; index {index} is out of range")
        return Prefix(self.version, self.network + (index << (self.width - new_length)), new_length)

    def subnets(self, new_length: int) -> Iterator[Prefix]:
        step = 1 << (self.width - new_length)
        for i in range(self.count_subnets(new_length)):
            yield Prefix(self.version, self.network + i * step, new_length)

    def index_of(self, child: Prefix) -> int:
        """Inverse of ``subnet``: the position of ``child`` among the subnets of its length."""
        if not self.contains(child):
            raise PrefixValueError(str(child), f"is not inside {self}")
        return (child.network - self.network) >> (self.width - child.length)

    def supernet(self, new_length: int | None = None) -> Prefix:
        new_length = self.length - 1 if new_length is None else new_length
        if not 0 <= new_length <= self.length:
            raise PrefixValueError(str(self), f"a supernet must be /0 to /{self.length}, not /{new_length}")
        mask = ((1 << new_length) - 1) << (self.width - new_length)
        return Prefix(self.version, self.network & mask, new_length)

    def _check_longer(self, new_length: int) -> None:
        if not self.length <= new_length <= self.width:
            raise PrefixValueError(
                str(self), f"subnet length must be /{self.length} to /{self.width}, not /{new_length}"
            )

    @property
    def is_reverse_boundary(self) -> bool:
        """True when the reverse zone is one name: octet boundaries in IPv4, nibbles in IPv6."""
        return self.length % (8 if self.version == 4 else 4) == 0

    @property
    def reverse_name(self) -> str:
        """The in-addr.arpa (RFC 1035 3.5) or ip6.arpa (RFC 3596 2.5) name of the block.

        Only defined on octet (IPv4) or nibble (IPv6) boundaries; RFC 2317 classless
        delegation is a DNS operator's choice of names, not a property of the prefix.
        """
        if not self.is_reverse_boundary:
            unit = "an octet (8-bit)" if self.version == 4 else "a nibble (4-bit)"
            raise PrefixValueError(str(self), f"/{self.length} is not on {unit} boundary, so it has no single reverse name")
        if self.version == 4:
            octets = [str((self.network >> s) & 255) for s in (24, 16, 8, 0)][: self.length // 8]
            return ".".join([*reversed(octets), "in-addr.arpa"])
        digits = f"{self.network:032x}"[: self.length // 4]
        return "".join(d + "." for d in reversed(digits)) + "ip6.arpa"


def summarize_range(first: Address, last: Address) -> list[Prefix]:
    """The fewest prefixes that cover exactly ``first``..``last`` (inclusive)."""
    if first.version != last.version:
        raise ValueError(f"{first} and {last} are of different families")
    if first.value > last.value:
        raise ValueError(f"{first} is after {last}")
    width = first.width
    out = []
    lo, hi = first.value, last.value
    while lo <= hi:
        align = (lo & -lo).bit_length() - 1 if lo else width
        span = (hi - lo + 1).bit_length() - 1
        bits = min(align, span)
        out.append(Prefix(first.version, lo, width - bits))
        lo += 1 << bits
    return out


def collapse(prefixes: list[Prefix]) -> list[Prefix]:
    """Merge adjacent and nested prefixes of one family into the fewest prefixes."""
    out: list[Prefix] = []
    for version in (4, 6):
        ranges = sorted((p.network, p.broadcast) for p in prefixes if p.version == version)
        merged: list[list[int]] = []
        for lo, hi in ranges:
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        for lo, hi in merged:
            out.extend(summarize_range(Address(version, lo), Address(version, hi)))
    return out


def parse(text: str, *, allow_zone: bool = False) -> Address | Prefix:
    """An address, or a prefix when the text has ``/len``."""
    if isinstance(text, str) and "/" in text:
        return Prefix.parse(text)
    return Address.parse(text, allow_zone=allow_zone)
