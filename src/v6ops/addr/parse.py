"""Text to integers: every form RFC 4291 section 2.2 allows, and nothing else.

Kept free of the value types so the vector parser and the scalar types share
the same rules.
"""

from __future__ import annotations

from v6ops.addr.errors import AddressValueError

_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")


def parse_ipv4(text: str, *, original: str | None = None) -> int:
    """Dotted-quad IPv4 text to an int.

    Leading zeros are refused: ``010.0.0.1`` means 8.0.0.1 to inet_aton and
    10.0.0.1 to a person, so accepting it would silently pick one (RFC 6943 3.1.1).
    """
    src = text if original is None else original
    parts = text.split(".")
    if len(parts) != 4:
        raise AddressValueError(src, f"expected 4 dot-separated octets in {text!r}, found {len(parts)}")
    value = 0
    for i, part in enumerate(parts, 1):
        if not part:
            raise AddressValueError(src, f"octet {i} is empty")
        if not _DIGITS.issuperset(part):
            raise AddressValueError(src, f"octet {i} ({part!r}) is not a decimal number")
        if len(part) > 1 and part[0] == "0":
            raise AddressValueError(src, f"octet {i} ({part!r}) has a leading zero, which is ambiguous (octal)")
        if len(part) > 3 or int(part) > 255:
            raise AddressValueError(src, f"octet {i} ({part!r}) is greater than 255")
        value = (value << 8) | int(part)
    return value


def _fields(chunk: str, src: str, offset: int) -> list[int]:
    if not chunk:
        return []
    out = []
    for i, field in enumerate(chunk.split(":"), offset + 1):
        if not field:
            raise AddressValueError(src, f"field {i} is empty (a single ':' where '::' or a value was expected)")
        if len(field) > 4 or not _HEX.issuperset(field):
            raise AddressValueError(src, f"field {i} ({field!r}) is not 1-4 hexadecimal digits")
        out.append(int(field, 16))
    return out


def parse_ipv6(text: str, *, allow_zone: bool = False) -> tuple[int, str | None]:
    """IPv6 text to (int, zone).

    RFC 4291 2.2: eight 16-bit fields of 1-4 hex digits; one ``::`` standing for
    one or more zero fields; the last 32 bits may be dotted-quad IPv4.
    RFC 4007 section 11: ``%zone`` only where the caller allows it.
    """
    src = text
    zone = None
    if "%" in text:
        text, zone = text.split("%", 1)
        if not allow_zone:
            raise AddressValueError(src, "a zone ID ('%...') is not allowed here")
        if not zone:
            raise AddressValueError(src, "the zone ID after '%' is empty")
    if not text:
        raise AddressValueError(src, "the address is empty")
    tail_v4: int | None = None
    last_colon = text.rfind(":")
    if last_colon < 0:
        raise AddressValueError(src, "an IPv6 address needs at least two ':'")
    if "." in text[last_colon + 1 :]:
        tail_v4 = parse_ipv4(text[last_colon + 1 :], original=src)
        text = text[: last_colon + 1]
        if not text.endswith("::"):
            text = text[:-1]  # drop the separator before the dotted quad
    want = 6 if tail_v4 is not None else 8
    if text.count("::") > 1 or ":::" in text:
        raise AddressValueError(src, "'::' may appear only once")
    if "::" in text:
        head, tail = text.split("::")
        hv = _fields(head, src, 0)
        tv = _fields(tail, src, len(hv))
        if len(hv) + len(tv) > want - 1:
            raise AddressValueError(src, f"'::' must stand for at least one zero field, but {len(hv) + len(tv)} fields are given")
        fields = hv + [0] * (want - len(hv) - len(tv)) + tv
    else:
        fields = _fields(text, src, 0)
        if len(fields) != want:
            extra = " before the dotted IPv4 part" if tail_v4 is not None else ""
            raise AddressValueError(src, f"expected {want} fields{extra} without '::', found {len(fields)}")
    value = 0
    for f in fields:
        value = (value << 16) | f
    if tail_v4 is not None:
        value = (value << 32) | tail_v4
    return value, zone


def parse_prefix_length(text: str, src: str, width: int) -> int:
    if not text or not _DIGITS.issuperset(text):
        raise AddressValueError(src, f"prefix length {text!r} is not a decimal number")
    if len(text) > 1 and text[0] == "0":
        raise AddressValueError(src, f"prefix length {text!r} has a leading zero")
    length = int(text)
    if length > width:
        raise AddressValueError(src, f"prefix length {length} is greater than {width}")
    return length
