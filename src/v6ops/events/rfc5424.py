"""RFC 5424 syslog messages and their RFC 6587 octet-counted frames.

The ABNF is RFC 5424 section 6: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [SP MSG]``.
Header fields are printable US-ASCII (33-126) with length limits (section 6.2), ``-`` stands for an
empty field; structured-data values escape ``"``, ``\\`` and ``]`` (section 6.3.3); a UTF-8 MSG starts
with the BOM (section 6.4), an all-ASCII one is sent as MSG-ANY without it.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import dataclass, field

from v6ops.events.model import EventValueError, SecurityEvent, Severity

BOM = b"\xef\xbb\xbf"
# RFC 5424 section 6.2.1 table 2 severities for the seed's four levels.
SYSLOG_SEVERITY = {Severity.INFO: 6, Severity.WARNING: 4, Severity.ERROR: 3, Severity.CRITICAL: 2}
DOCUMENTATION_ENTERPRISE = 32473  # RFC 5612: the private enterprise number reserved for examples
_SD_ESCAPE = str.maketrans({'"': '\\"', "\\": "\\\\", "]": "\\]"})
_SD_SPECIAL = re.compile(r'["\\\]]').search


def header_field(text: str, limit: int) -> str:
    """PRINTUSASCII only (RFC 5424 section 6), cut to the field's limit; empty becomes the NILVALUE."""
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text)[:limit]
    if not cleaned:
        return "-"
    return cleaned


def sd_name(text: str) -> str:
    """SD-NAME (section 6.3.2/6.3.3): 1-32 printable characters other than ``=``, space, ``]`` and ``"``."""
    if not 1 <= len(text) <= 32 or any(not 33 <= ord(c) <= 126 or c in '= ]"' for c in text):
        raise EventValueError(f"structured-data name {text!r} is not an RFC 5424 SD-NAME (1-32 printable, no = ] \" space)")
    return text


def sd_value(text: str) -> str:
    return text.translate(_SD_ESCAPE) if _SD_SPECIAL(text) else text



def timestamp_text(event: SecurityEvent) -> str:
    """RFC 3339 with upper-case T and Z and at most six fraction digits (section 6.2.3)."""
    return event.timestamp.isoformat()[:-6] + "Z"  # the model keeps timestamps in UTC: "+00:00" becomes "Z"


@dataclass(frozen=True)
class SyslogHeader:
    """The parts of the RFC 5424 header that do not change per event."""

    facility: int = 4  # security/authorization (RFC 5424 table 1; the seed's ``logger -p security.crit``)
    hostname: str = field(default_factory=socket.gethostname)
    app_name: str = "v6ops"
    procid: str = field(default_factory=lambda: str(os.getpid()))
    sd_id: str = f"v6ops@{DOCUMENTATION_ENTERPRISE}"

    def __post_init__(self) -> None:
        if not 0 <= self.facility <= 23:
            raise EventValueError(f"syslog facility {self.facility!r} is not 0-23 (RFC 5424 section 6.2.1)")
        sd_name(self.sd_id)

    def prefix(self) -> str:
        """``HOSTNAME APP-NAME PROCID`` with the section 6.2 limits (255, 48, 128)."""
        return " ".join((header_field(self.hostname, 255), header_field(self.app_name, 48),
                         header_field(self.procid, 128)))


def format_message(event: SecurityEvent, msg: str, header: SyslogHeader, prefix: str | None = None) -> bytes:
    """One RFC 5424 message carrying ``msg``, with the event's ids as structured data."""
    pri = header.facility * 8 + SYSLOG_SEVERITY[event.severity]
    msgid = _msgid(event.event_type)
    sd = (f'[{header.sd_id} eventId="{sd_value(event.event_id)}" vmId="{sd_value(event.vm_id)}" '
          f'customerId="{sd_value(event.customer_id)}"]')
    head = f"<{pri}>1 {timestamp_text(event)} {prefix or header.prefix()} {msgid} {sd} "
    if msg.isascii():
        return (head + msg).encode()
    return head.encode() + BOM + msg.encode()


@functools.cache
def _msgid(event_type: str) -> str:
    return header_field(event_type, 32)


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 section 3.4.1 / RFC 5425 section 4.3: ``MSG-LEN SP SYSLOG-MSG``."""
    return b"%d %s" % (len(message), message)
