"""Integers to canonical text (RFC 5952 section 4 for IPv6)."""

from __future__ import annotations

_MAPPED_HIGH = 0xFFFF  # ::ffff:0:0/96, RFC 4291 2.5.5.2


def format_ipv4(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def format_ipv6(value: int) -> str:
    """RFC 5952 section 4: lower case (4.3), no leading zeros (4.1), the longest
    run of two or more zero fields shortened to '::' (4.2.2, 4.2.3, leftmost on a
    tie), and IPv4-mapped addresses in mixed notation (section 5)."""
    if value >> 32 == _MAPPED_HIGH:
        return "::ffff:" + format_ipv4(value & 0xFFFFFFFF)
    fields = [(value >> shift) & 0xFFFF for shift in range(112, -1, -16)]
    best_start, best_len, run_start = -1, 1, -1
    for i, f in enumerate([*fields, 1]):
        if f == 0:
            if run_start < 0:
                run_start = i
        elif run_start >= 0:
            if i - run_start > best_len:
                best_start, best_len = run_start, i - run_start
            run_start = -1
    hexes = [format(f, "x") for f in fields]
    if best_start < 0:
        return ":".join(hexes)
    return ":".join(hexes[:best_start]) + "::" + ":".join(hexes[best_start + best_len :])


def format_address(version: int, value: int) -> str:
    return format_ipv4(value) if version == 4 else format_ipv6(value)
