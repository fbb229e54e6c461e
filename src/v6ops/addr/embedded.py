"""IPv4 addresses carried inside IPv6 ones."""

from __future__ import annotations

from dataclasses import dataclass

from v6ops.addr.address import Address, Prefix

_MAPPED = Prefix.parse("::ffff:0:0/96")
_NAT64_WKP = Prefix.parse("64:ff9b::/96")
_NAT64_LOCAL = Prefix.parse("64:ff9b:1::/48")
_SIX_TO_FOUR = Prefix.parse("2002::/16")
_TEREDO = Prefix.parse("2001::/32")

# RFC 6052 section 2.2: where the 32 IPv4 bits sit for each NAT64 prefix length.
# Bits 64-71 (the "u" octet) are always skipped.
_RFC6052_LAYOUT = {32: (32,), 40: (40, 72), 48: (48, 72), 56: (56, 72), 64: (72,), 96: (96,)}


@dataclass(frozen=True)
class EmbeddedIPv4:
    address: Address
    mechanism: str  # ipv4-mapped | nat64 | 6to4 | teredo
    rfc: str
    teredo_server: Address | None = None


def nat64_extract(address: Address, prefix_length: int) -> Address:
    """RFC 6052 section 2.2: the IPv4 address inside an IPv4-embedded IPv6 address."""
    if prefix_length not in _RFC6052_LAYOUT:
        raise ValueError(f"NAT64 prefix length must be one of 32, 40, 48, 56, 64, 96, not {prefix_length}")
    v = address.value
    if prefix_length == 96:
        return Address(4, v & 0xFFFFFFFF)
    if prefix_length == 64:
        return Address(4, (v >> 24) & 0xFFFFFFFF)
    if prefix_length == 32:
        return Address(4, (v >> 64) & 0xFFFFFFFF)
    # /40, /48, /56: high part right after the prefix up to bit 64, rest after the u octet.
    high_bits = 64 - prefix_length
    low_bits = 32 - high_bits
    high = (v >> 64) & ((1 << high_bits) - 1)
    low = (v >> (56 - low_bits)) & ((1 << low_bits) - 1)
    return Address(4, (high << low_bits) | low)


def embedded_ipv4(address: Address, *, nat64_local_length: int = 96) -> EmbeddedIPv4 | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the known forms.

    ``64:ff9b:1::/48`` (RFC 8215) lets each operator pick its own prefix length
    inside the /48; ``nat64_local_length`` says which (96 is the common choice).
    """
    if address.version != 6:
        return None
    v = address.value
    if _MAPPED.contains(address):
        return EmbeddedIPv4(Address(4, v & 0xFFFFFFFF), "ipv4-mapped", "RFC 4291 section 2.5.5.2")
    if _NAT64_WKP.contains(address):
        return EmbeddedIPv4(nat64_extract(address, 96), "nat64", "RFC 6052 section 2.2")
    if _NAT64_LOCAL.contains(address):
        return EmbeddedIPv4(nat64_extract(address, nat64_local_length), "nat64", "RFC 8215, RFC 6052 section 2.2")
    if _SIX_TO_FOUR.contains(address):
        return EmbeddedIPv4(Address(4, (v >> 80) & 0xFFFFFFFF), "6to4", "RFC 3056 section 2")
    if _TEREDO.contains(address):
        # RFC 4380 section 4: server IPv4 in bits 32-63, client IPv4 obfuscated (inverted) in the last 32.
        return EmbeddedIPv4(
            Address(4, (v & 0xFFFFFFFF) ^ 0xFFFFFFFF),
            "teredo",
            "RFC 4380 section 4",
            teredo_server=Address(4, (v >> 64) & 0xFFFFFFFF),
        )
    return None


def nat64_synthesize(ipv4: Address, prefix: Prefix) -> Address:
    """RFC 6052 section 2.2: the IPv4-embedded IPv6 address for ``ipv4`` under a NAT64 prefix.

    The inverse of ``nat64_extract``: the 32 bits go right after the prefix, skipping bits
    64-71 (the "u" octet, always zero), and the suffix is zero.
    """
    if ipv4.version != 4:
        raise ValueError(f"{ipv4} is not an IPv4 address")
    if prefix.version != 6 or prefix.length not in _RFC6052_LAYOUT:
        raise ValueError(f"NAT64 prefix {prefix} must be an IPv6 /32, /40, /48, /56, /64 or /96")
    v4 = ipv4.value
    length = prefix.length
    if length == 96:
        embedded = v4
    elif length == 64:
        embedded = v4 << 24
    elif length == 32:
        embedded = v4 << 64
    else:
        high_bits = 64 - length
        low_bits = 32 - high_bits
        embedded = ((v4 >> low_bits) << 64) | ((v4 & ((1 << low_bits) - 1)) << (56 - low_bits))
    return Address(6, prefix.network | embedded)
