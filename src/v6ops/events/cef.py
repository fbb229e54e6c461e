"""ArcSight Common Event Format (CEF:0) text for a security event, with the seed's ``cef_mapping``.

Escaping follows "Implementing ArcSight CEF" (rev. 25), as read by logstash-codec-cef and Elastic's
decode_cef: in the seven header fields ``\\`` becomes ``\\\\`` and ``|`` becomes ``\\|`` (``=`` is
literal) and line breaks, which a header may not hold, become spaces; in extension values ``\\``,
``=``, LF and CR become ``\\\\``, ``\\=``, ``\\n`` and ``\\r`` (``|`` is literal). Extension keys are
fixed here (alphanumeric, the spec's dictionary or its custom ``cs``/``c6a`` slots).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from v6ops.events.model import SecurityEvent

_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|", "\r": " ", "\n": " "})
_VALUE = str.maketrans({"\\": "\\\\", "=": "\\=", "\n": "\\n", "\r": "\\r"})


def escape_header(text: str) -> str:
    """A CEF header field: backslash and pipe escaped, line breaks replaced by spaces."""
    return text.translate(_HEADER)


def escape_value(text: str) -> str:
    """A CEF extension value: backslash, equals sign, LF and CR escaped."""
    return text.translate(_VALUE)


@dataclass(frozen=True)
class CefMapping:
    """The seed's ``security_event_schema.cef_mapping`` (severity map lives on :class:`Severity.cef`)."""

    device_vendor: str = "Unkey"
    device_product: str = "Metald"
    device_version: str = "1.0"
    signature_id_prefix: str = "METALD_IPV6"

    def header_prefix(self) -> str:
        return "CEF:0|" + "|".join(escape_header(f) for f in (self.device_vendor, self.device_product,
                                                               self.device_version)) + "|"


DEFAULT_MAPPING = CefMapping()


def signature_id(event: SecurityEvent, mapping: CefMapping = DEFAULT_MAPPING) -> str:
    """``METALD_IPV6_RA_BLOCKED`` and so on: the prefix and the event type in upper case."""
    return f"{mapping.signature_id_prefix}_{event.event_type.value.upper()}"


def _address_fields(event: SecurityEvent) -> list[tuple[str, str]]:
    """IPv4 goes in src/dst; IPv6 in the spec's deviceCustomIPv6Address slots (c6a2 source, c6a3
    destination, ArcSight's convention), since the spec types src/dst as IPv4 addresses."""
    out: list[tuple[str, str]] = []
    for value, v4_key, v6_slot, label in ((event.source_ip, "src", "c6a2", "Source IPv6 Address"),
                                          (event.destination_ip, "dst", "c6a3", "Destination IPv6 Address")):
        if not value:
            continue
        if ":" in value:
            out += [(v6_slot, value), (f"{v6_slot}Label", label)]
        else:
            out.append((v4_key, value))
    return out


def extension_pairs(event: SecurityEvent) -> list[tuple[str, str]]:
    """The extension as (key, unescaped value) pairs, in output order."""
    pairs = [("rt", str(event.timestamp_ms)), ("externalId", event.event_id), ("cat", event.event_type.value)]
    pairs += _address_fields(event)
    pairs += [("cs1", event.vm_id), ("cs1Label", "vmId"), ("cs2", event.customer_id), ("cs2Label", "customerId")]
    if event.details:
        pairs += [("cs3", json.dumps(event.details, sort_keys=True, separators=(",", ":"), default=str)),
                  ("cs3Label", "details")]
    if event.source:
        pairs += [("cs4", event.source), ("cs4Label", "source")]
    if event.description:
        pairs.append(("msg", event.description))
    return pairs


def format_cef(event: SecurityEvent, mapping: CefMapping = DEFAULT_MAPPING) -> str:
    """One CEF:0 line (no trailing newline)."""
    name = event.description or event.event_type.value
    header = (mapping.header_prefix() + escape_header(signature_id(event, mapping)) + "|" + escape_header(name)
              + "|" + str(event.severity.cef) + "|")
    return header + " ".join(f"{k}={escape_value(v)}" for k, v in extension_pairs(event))
