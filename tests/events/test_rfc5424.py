import re
from datetime import UTC, datetime

import pytest

from v6ops.events import EventValueError, SecurityEvent
from v6ops.events.rfc5424 import BOM, SyslogHeader, format_message, octet_counted

# RFC 5424 section 6 ABNF, header and one SD-ELEMENT
HEADER = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z) (?P<host>[!-~]{1,255}) "
    rb"(?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
    rb'(?P<sd>\[(?P<sdid>[!-~]{1,32}?)(?: [^= \]"]{1,32}="(?:[^"\\\]]|\\["\\\]])*")*\]) (?P<msg>.*)$', re.S)


def event(**kw):
    base = {"timestamp": datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC), "vm_id": "vm-1", "customer_id": "acme",
            "event_type": "source_validation_failed", "severity": "error", "source_ip": "2001:db8::1"}
    base.update(kw)
    return SecurityEvent(**base)


def test_header_fields_and_pri():
    header = SyslogHeader(facility=4, hostname="host a\u00e9", app_name="v6ops", procid="42")
    m = HEADER.match(format_message(event(), "CEF:0|x", header))
    assert m, "does not match the RFC 5424 ABNF"
    assert int(m["pri"]) == 4 * 8 + 3
    assert m["ts"] == b"2026-01-02T03:04:05.120000Z"
    assert m["host"] == b"host_a_" and m["msgid"] == b"source_validation_failed"
    assert m["msg"] == b"CEF:0|x"


def test_sd_values_are_escaped():
    e = event(vm_id='a"b]c\\d', customer_id="x y")
    m = HEADER.match(format_message(e, "m", SyslogHeader(hostname="h", procid="1")))
    assert m, "does not match the RFC 5424 ABNF"
    assert b'vmId="a\\"b\\]c\\\\d"' in m["sd"] and b'customerId="x y"' in m["sd"]


def test_utf8_msg_gets_bom_ascii_does_not():
    h = SyslogHeader(hostname="h", procid="1")
    assert format_message(event(), "ascii", h).endswith(b"] ascii")
    assert format_message(event(), "caf\u00e9", h).endswith(b"] " + BOM + "caf\u00e9".encode())


def test_octet_count_is_bytes_not_characters():
    msg = "\u00e9\u00e9".encode()
    assert octet_counted(msg) == b"4 " + msg


def test_bad_header_settings_are_refused():
    with pytest.raises(EventValueError, match="facility 24"):
        SyslogHeader(facility=24)
    with pytest.raises(EventValueError, match="SD-NAME"):
        SyslogHeader(sd_id="a b")
