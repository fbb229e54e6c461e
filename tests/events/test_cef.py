"""CEF text checked against the spec's escaping rules by an independent decoder written from the spec."""

import json
import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from v6ops.events import SecurityEvent, Severity
from v6ops.events.cef import CefMapping, escape_header, escape_value, format_cef, signature_id

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HOSTILE = 'a|b\\c=d\ne\rf g=h \\| \\= "x" ]'


def decode(line: str) -> tuple[list[str], dict[str, str]]:
    """Split per the spec: seven header fields separated by unescaped pipes (\\| and \\\\ escapes), then
    ``key=value`` pairs where a value runs to the next unescaped `` key=``."""
    assert line.startswith("CEF:")
    fields, cur, i = [], [], 4
    while len(fields) < 7:
        c = line[i]
        if c == "\\":
            nxt = line[i + 1]
            assert nxt in "\\|", f"bad header escape \\{nxt}"
            cur.append(nxt)
            i += 2
            continue
        if c == "|":
            fields.append("".join(cur))
            cur = []
        else:
            assert c not in "\r\n"
            cur.append(c)
        i += 1
    ext = line[i:]
    assert "\n" not in ext and "\r" not in ext
    # key starts: a run of alnum after start or a space, followed by an unescaped '='
    starts = [m for m in re.finditer(r"(?:^| )([A-Za-z0-9]+)=", ext) if not _escaped(ext, m.end() - 1)]
    pairs = {}
    for n, m in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else len(ext)
        raw = ext[m.end():end]
        pairs[m.group(1)] = _unescape_value(raw)
    return fields, pairs


def _escaped(text, pos):
    n = 0
    while pos - 1 - n >= 0 and text[pos - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def _unescape_value(raw):
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            nxt = raw[i + 1]
            out.append({"\\": "\\", "=": "=", "n": "\n", "r": "\r"}[nxt])
            i += 2
        else:
            assert c != "=", f"unescaped = in value {raw!r}"
            out.append(c)
            i += 1
    return "".join(out)


def event(**kw):
    base = {"timestamp": T0, "vm_id": "vm-1", "customer_id": "acme", "event_type": "ra_blocked",
            "severity": "critical", "source_ip": "fe80::1", "destination_ip": "192.0.2.7",
            "description": "RA from a router that is not allowed", "details": {"rule": "rfc6105-unknown-router"}}
    base.update(kw)
    return SecurityEvent(**base)


def test_escape_rules_exactly():
    assert escape_header("a|b\\c\nd=e\rf") == "a\\|b\\\\c d=e f"
    assert escape_value("a=b\\c\nd\re|f g") == "a\\=b\\\\c\\nd\\re|f g"


def test_seed_mapping_header_and_severity():
    fields, ext = decode(format_cef(event()))
    assert fields == ["0", "Unkey", "Metald", "1.0", "METALD_IPV6_RA_BLOCKED", "RA from a router that is not allowed", "10"]
    assert ext["rt"] == str(int(T0.timestamp() * 1000))
    assert ext["c6a2"] == "fe80::1" and ext["c6a2Label"] == "Source IPv6 Address"
    assert ext["dst"] == "192.0.2.7" and "src" not in ext
    assert ext["cs1"] == "vm-1" and ext["cs2"] == "acme" and ext["cat"] == "ra_blocked"
    assert json.loads(ext["cs3"]) == {"rule": "rfc6105-unknown-router"}
    for sev, num in (("info", "2"), ("warning", "5"), ("error", "7"), ("critical", "10")):
        assert decode(format_cef(event(severity=sev)))[0][6] == num
    assert signature_id(event(event_type="source_validation_failed")) == "METALD_IPV6_SOURCE_VALIDATION_FAILED"


def test_hostile_values_in_every_field_survive_and_inject_nothing():
    mapping = CefMapping(device_vendor=HOSTILE, device_product=HOSTILE, device_version=HOSTILE,
                         signature_id_prefix=HOSTILE)
    injected = "x act=allowed cs1=forged"
    e = event(vm_id=injected, customer_id=HOSTILE.replace("\n", "").replace("\r", ""),
              description=HOSTILE + " " + injected, source="p=q|r",
              details={"k=1": HOSTILE, "n": "line1\nline2"}, event_id="id|=\\1")
    line = format_cef(e, mapping)
    assert "\n" not in line and "\r" not in line
    fields, ext = decode(line)
    header_form = HOSTILE.replace("\n", " ").replace("\r", " ")
    assert fields[1:4] == [header_form] * 3
    assert fields[4] == header_form + "_RA_BLOCKED"
    assert fields[5] == header_form + " " + injected
    assert ext["cs1"] == injected and "act" not in ext
    assert ext["cs2"] == e.customer_id
    assert ext["msg"] == e.description  # newlines survive as \n escapes in extensions
    assert ext["externalId"] == "id|=\\1" and ext["cs4"] == "p=q|r"
    assert json.loads(ext["cs3"]) == e.details


_hostile = st.text(alphabet=st.sampled_from(list("ab =|\\\n\rx=y é")), max_size=30)


@given(vendor=_hostile, desc=_hostile, vm=st.text(alphabet=st.sampled_from(list("ab =|\\x=y")), max_size=30),
       sev=st.sampled_from(Severity))
def test_round_trip_property(vendor, desc, vm, sev):
    e = event(description=desc, vm_id=vm, severity=sev)
    fields, ext = decode(format_cef(e, CefMapping(device_vendor=vendor)))
    assert fields[1] == vendor.replace("\n", " ").replace("\r", " ")
    assert fields[6] == str(sev.cef)
    assert ext["cs1"] == vm
    if desc:
        assert ext["msg"] == desc
