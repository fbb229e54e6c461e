"""The one security event: what the policy engine and the flow detections emit, and every sink delivers.

Field names follow the seed's ``security_event_schema`` (version 1.0): the required fields
``timestamp``, ``event_id``, ``vm_id``, ``customer_id``, ``event_type``, ``severity`` and
``source_ip`` are always present in the JSON form (``source_ip`` is ``null`` when an event has
no packet source, such as a compliance finding); the seed's optional fields and a free ``details``
mapping (the evidence: rule ids, counts, thresholds, windows) follow.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from v6ops.addr import Address

SCHEMA_VERSION = "1.0"
REQUIRED_FIELDS = ("timestamp", "event_id", "vm_id", "customer_id", "event_type", "severity", "source_ip")


class EventType(StrEnum):
    """The seed's ``SecurityEventType`` (first six) and the flow detections' and audit trail's types."""

    UNKNOWN = "unknown"
    RA_BLOCKED = "ra_blocked"
    SOURCE_VALIDATION_FAILED = "source_validation_failed"
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    EXTENSION_HEADER_BLOCKED = "extension_header_blocked"
    COMPLIANCE_VIOLATION = "compliance_violation"
    # flow detections
    PORT_SCAN = "port_scan"
    ADDRESS_SCAN = "address_scan"
    HIGH_VOLUME = "high_volume"
    REJECTION_RATE = "rejection_rate"
    SUSPICIOUS_SOURCE = "suspicious_source"
    ALARM_STATE_CHANGE = "alarm_state_change"
    # operations: configuration changes and rollout steps (the audit trail)
    CONFIG_CHANGE = "config_change"
    ROLLOUT_STEP = "rollout_step"


class Severity(StrEnum):
    """The seed's ``SecuritySeverity``, ordered; ``cef`` is the seed's ``cef_mapping.severity_mapping``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def cef(self) -> int:
        return _CEF[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}
_CEF = {Severity.INFO: 2, Severity.WARNING: 5, Severity.ERROR: 7, Severity.CRITICAL: 10}


class EventValueError(ValueError):
    """An event (or an event line) that cannot be used; the message names the field and the value."""


def _ip_text(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, Address):
        return str(value)
    if not isinstance(value, str):
        raise EventValueError(f"{field} {value!r} is not an IP address string")
    try:
        return str(Address.parse(value))
    except ValueError as exc:
        raise EventValueError(f"{field} {value!r} is not an IP address: {exc}") from exc


class SecurityEvent(BaseModel):
    """One security event. Immutable; ``event_id`` defaults to a random UUID, addresses are RFC 5952 text."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    timestamp: datetime
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=128)
    vm_id: str = Field(max_length=256, description="empty when the event is not tied to one VM")
    customer_id: str = Field(default="", max_length=256, description="the tenant; empty when unknown")
    event_type: EventType
    severity: Severity
    source_ip: str | None = None
    destination_ip: str | None = None
    description: str = ""
    source: str = Field(default="", description="the emitting component, e.g. policy.evaluator, flows.detect")
    user_agent: str | None = None
    geo_location: str | None = None
    threat_indicators: tuple[str, ...] = ()
    compliance_tags: tuple[str, ...] = ()
    remediation_actions: tuple[str, ...] = ()
    details: dict[str, Any] = Field(default_factory=dict, description="the evidence: JSON values only")

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise EventValueError(f"timestamp {value.isoformat()!r} has no time zone; events carry UTC times")
        return value.astimezone(UTC)

    @field_validator("source_ip", "destination_ip", mode="before")
    @classmethod
    def _address(cls, value: object, info: Any) -> str | None:
        return _ip_text(value, info.field_name)

    @field_validator("event_id", "vm_id", "customer_id")
    @classmethod
    def _printable(cls, value: str, info: Any) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise EventValueError(f"{info.field_name} {value!r} contains control characters")
        return value

    @property
    def timestamp_ms(self) -> int:
        """Epoch milliseconds (CEF ``rt``)."""
        return int(self.timestamp.timestamp() * 1000)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (plain types, ISO 8601 UTC timestamp ending in ``Z``)."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """One compact JSON line without the newline."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, line: str | bytes) -> SecurityEvent:
        """Parse one JSON line; a bad line raises EventValueError naming what is wrong."""
        try:
            return cls.model_validate_json(line)
        except ValueError as exc:
            raise EventValueError(f"not a security event: {_first_error(exc)}") from exc

    @classmethod
    def at_ns(cls, timestamp_ns: int, **fields: Any) -> SecurityEvent:
        """An event at a capture timestamp in epoch nanoseconds (kept exactly in ``details.timestamp_ns``)."""
        when = datetime.fromtimestamp(timestamp_ns // 1_000_000_000, UTC).replace(
            microsecond=(timestamp_ns % 1_000_000_000) // 1000)
        details = dict(fields.pop("details", {}) or {})
        details.setdefault("timestamp_ns", timestamp_ns)
        return cls(timestamp=when, details=details, **fields)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(map(str, first['loc'])) or 'line'}: {first['msg']}"
    return str(exc)


@runtime_checkable
class Sink(Protocol):
    """Where events go. ``emit`` must not block on a slow receiver for long: buffering is the sink's job;
    ``flush`` delivers (or spools) what is buffered; ``close`` flushes and releases the resources."""

    def emit(self, event: SecurityEvent) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps events in a list: for tests, the CLI's ``--json`` output and the investigation view."""

    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []
        self.closed = False

    def emit(self, event: SecurityEvent) -> None:
        if self.closed:
            raise EventValueError("sink is closed")
        self.events.append(event)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


class FanOut:
    """Emits each event to several sinks; one failing sink does not stop the others (its error is re-raised
    after all have been tried, so nothing is silently lost)."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def _each(self, call: str, *args: Any) -> None:
        first: Exception | None = None
        for sink in self.sinks:
            try:
                getattr(sink, call)(*args)
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

    def emit(self, event: SecurityEvent) -> None:
        self._each("emit", event)

    def flush(self) -> None:
        self._each("flush")

    def close(self) -> None:
        self._each("close")
