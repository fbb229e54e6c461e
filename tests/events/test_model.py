import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6ops.addr import Address
from v6ops.events import (
    REQUIRED_FIELDS,
    EventType,
    EventValueError,
    FanOut,
    MemorySink,
    SecurityEvent,
    Severity,
    Sink,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def make(**kw):
    base = {"timestamp": T0, "vm_id": "vm-1", "customer_id": "acme", "event_type": EventType.RA_BLOCKED,
            "severity": Severity.ERROR, "source_ip": "FE80:0:0:0:0:0:0:1"}
    base.update(kw)
    return SecurityEvent(**base)


def test_required_fields_always_serialised():
    e = make(source_ip=None)
    d = e.to_dict()
    for name in REQUIRED_FIELDS:
        assert name in d
    assert d["source_ip"] is None
    assert d["timestamp"] == "2026-01-02T03:04:05.678901Z"
    assert d["event_type"] == "ra_blocked" and d["severity"] == "error"


def test_addresses_are_rfc5952_text():
    assert make().source_ip == "fe80::1"
    assert make(destination_ip="2001:DB8::0:1").destination_ip == "2001:db8::1"
    assert make(source_ip="192.0.2.1").source_ip == "192.0.2.1"


@pytest.mark.parametrize("bad", ["2001:db8::zz", "1.2.3", "fe80::1%eth0", 12])
def test_bad_source_ip_names_field_and_value(bad):
    with pytest.raises(ValueError, match="source_ip") as info:
        make(source_ip=bad)
    assert repr(bad) in str(info.value) or str(bad) in str(info.value)


def test_naive_timestamp_rejected_and_offsets_converted_to_utc():
    with pytest.raises(ValueError, match="time zone"):
        make(timestamp=datetime(2026, 1, 1))
    e = make(timestamp=datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))))
    assert e.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert e.to_dict()["timestamp"] == "2026-01-01T00:00:00Z"


def test_control_characters_in_ids_rejected():
    with pytest.raises(ValueError, match="vm_id"):
        make(vm_id="vm\n1")


def test_unknown_type_severity_and_extra_fields_rejected():
    with pytest.raises(ValueError, match="event_type"):
        make(event_type="nonsense")
    with pytest.raises(ValueError, match="severity"):
        make(severity="high")
    with pytest.raises(ValueError, match="colour"):
        make(colour="red")


def test_flow_detection_types_fit():
    for name in ("port_scan", "address_scan", "high_volume", "rejection_rate", "suspicious_source",
                 "alarm_state_change"):
        e = make(event_type=name, vm_id="", details={"window_s": 60, "distinct_ports": 1000})
        assert e.event_type == EventType(name)


def test_severity_order_and_cef_map():
    assert [s.cef for s in Severity] == [2, 5, 7, 10]
    assert sorted(Severity, key=lambda s: s.rank) == [Severity.INFO, Severity.WARNING, Severity.ERROR,
                                                        Severity.CRITICAL]


def test_event_ids_unique_and_kept():
    assert make().event_id != make().event_id
    assert make(event_id="abc").event_id == "abc"


def test_at_ns_keeps_nanoseconds():
    e = SecurityEvent.at_ns(1_700_000_000_123_456_789, vm_id="v", event_type="unknown", severity="info")
    assert e.timestamp == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert e.details["timestamp_ns"] == 1_700_000_000_123_456_789
    assert e.timestamp_ms == 1_700_000_000_123


def test_from_json_errors_name_the_field():
    with pytest.raises(EventValueError, match="severity"):
        SecurityEvent.from_json(json.dumps({**make().to_dict(), "severity": "loud"}))
    with pytest.raises(EventValueError, match="not a security event"):
        SecurityEvent.from_json("{not json")


_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)


@given(vm=_text, customer=_text, desc=st.text(max_size=80), ip=st.ip_addresses(),
       sev=st.sampled_from(Severity), kind=st.sampled_from(EventType),
       details=st.dictionaries(_text, st.one_of(st.integers(), _text, st.booleans(), st.none()), max_size=4))
def test_json_round_trip(vm, customer, desc, ip, sev, kind, details):
    e = make(vm_id=vm, customer_id=customer, description=desc, source_ip=str(ip), severity=sev,
             event_type=kind, details=details)
    back = SecurityEvent.from_json(e.to_json())
    assert back == e
    assert int(Address.parse(back.source_ip)) == int(ip)


def test_sinks_follow_the_protocol_and_fan_out_keeps_going_after_a_failure():
    class Broken:
        def emit(self, event):
            raise OSError("disk full")

        def flush(self):
            pass

        def close(self):
            pass

    a, b = MemorySink(), MemorySink()
    assert isinstance(a, Sink)
    fan = FanOut(a, Broken(), b)
    with pytest.raises(OSError, match="disk full"):
        fan.emit(make())
    assert len(a.events) == 1 and len(b.events) == 1
    fan.close()
    assert a.closed and b.closed
    with pytest.raises(EventValueError, match="closed"):
        a.emit(make())
