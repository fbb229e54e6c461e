"""Host names for A/AAAA records: RFC 1035 section 2.3.4 lengths, RFC 1123 section 2.1 letters-digits-hyphen."""

from __future__ import annotations

import re

from v6ops.ipam.errors import IpamError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def check_dns_name(name: str, what: str = "DNS name") -> str:
    """The name in lower case without a trailing dot, or IpamError saying which rule it breaks."""
    text = name.lower().removesuffix(".")
    if not text or len(text) > 253:
        raise IpamError(f"{what} {name!r} must be 1 to 253 characters")
    for label in text.split("."):
        if not _LABEL.match(label):
            raise IpamError(
                f"{what} {name!r}: label {label!r} must be 1-63 letters, digits or hyphens, not starting or ending with '-'"
            )
    return text
