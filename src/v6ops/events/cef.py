"""ArcSight Common Event Format (CEF:0) text for a security event, with the seed's ``cef_mapping``.

Escaping follows "Implementing ArcSight CEF" (rev. 25), as read by logstash-codec-cef and Elastic's
decode_cef: in the seven header fields ``\\`` becomes ``\\\\`` and ``|`` becomes ``\\|`` (``=`` is
literal) and line breaks, which a header may not hold, become spaces; in extension values ``\\``,
``=``, LF and CR become ``\\\\``, ``\\=``, ``\\n`` and ``\\r`` (``|`` is literal). Extension keys are
fixed here (alphanumeric, the spec's dictionary or its custom ``cs``/``c6a`` slots).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import orjson

from v6ops.events.model import SecurityEvent

_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|", "\r": " ", "\n": " "})
_VALUE = str.maketrans({"\\": "\\\\", "=": "\\=", "\n": "\\n", "\r": "\\r"})
_HEADER_SPECIAL = re.compile(r"[\\|\r\n]").search
_VALUE_SPECIAL = re.compile(r"[\\=\r\n]").search


def escape_header(text: str) -> str:
    """A CEF header field: backslash and pipe escaped, line breaks replaced by spaces."""
    return text.translate(_HEADER) if _HEADER_SPECIAL(text) else text


def escape_value(text: str) -> str:
    """A CEF extension value: backslash, equals sign, LF and CR escaped."""
    return text.translate(_VALUE) if _VALUE_SPECIAL(text) else text


@dataclass(frozen=True)
class CefMapping:
    """The seed's ``security_event_schema.cef_mapping`` (severity map lives on :class:`Severity.cef`)."""

    device_vendor: str = "Unkey"
    device_product: str = "Metald"
    device_version: str = "1.0"
    signature_id_prefix: str = "METALD_IPV6"

    @functools.cached_property
    def header_prefix(self) -> str:
        return "CEF:0|" + "|".join(escape_header(f) for f in (self.device_vendor, self.device_product,
                                                               self.device_version)) + "|"


DEFAULT_MAPPING = CefMapping()


def signature_id(event: SecurityEvent, mapping: CefMapping = DEFAULT_MAPPING) -> str:
    """``METALD_IPV6_RA_BLOCKED`` and so on: the prefix and the event type in upper case."""
    return _signature(mapping.signature_id_prefix, event.event_type)


@functools.cache
def _signature(prefix: str, event_type: str) -> str:
    return f"{prefix}_{event_type.upper()}"


@functools.cache
def _escaped_signature(prefix: str, event_type: str) -> str:
    return escape_header(_signature(prefix, event_type))


def _address(value: str | None, v4_key: str, v6_slot: str, label: str) -> str:
    """IPv4 goes in src/dst; IPv6 in the spec's deviceCustomIPv6Address slots (c6a2 source, c6a3
    destination, ArcSight's convention), since the spec types src/dst as IPv4 addresses. Address
    text (RFC 5952 / dotted quad, checked by the model) holds nothing that needs escaping."""
    if not value:
        return ""
    if ":" in value:
        return f" {v6_slot}={value} {v6_slot}Label={label}"
    return f" {v4_key}={value}"


def format_cef(event: SecurityEvent, mapping: CefMapping = DEFAULT_MAPPING) -> str:
    """One CEF:0 line (no trailing newline). Keys are fixed; every free-text value is escaped."""
    kind: str = event.event_type  # a StrEnum is its value
    out = [mapping.header_prefix, _escaped_signature(mapping.signature_id_prefix, kind), "|",
           escape_header(event.description or kind), "|", str(event.severity.cef),
           f"|rt={event.timestamp_ms} externalId={escape_value(event.event_id)} cat={kind}",
           _address(event.source_ip, "src", "c6a2", "Source IPv6 Address"),
           _address(event.destination_ip, "dst", "c6a3", "Destination IPv6 Address"),
           f" cs1={escape_value(event.vm_id)} cs1Label=vmId cs2={escape_value(event.customer_id)} cs2Label=customerId"]
    if event.details:
        details = orjson.dumps(event.details, default=str, option=orjson.OPT_SORT_KEYS).decode()
        out.append(f" cs3={escape_value(details)} cs3Label=details")
    if event.source:
        out.append(f" cs4={escape_value(event.source)} cs4Label=source")
    if event.description:
        out.append(f" msg={escape_value(event.description)}")
    return "".join(out)
