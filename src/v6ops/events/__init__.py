"""The one event model, its sinks (JSON Lines, syslog/CEF, HTTPS SIEM) and the hash-chained audit log.

Depends only on ``v6ops.addr``. Policy and flows both emit :class:`SecurityEvent` to a :class:`Sink`.
"""

from v6ops.events.model import (
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    EventType,
    EventValueError,
    FanOut,
    MemorySink,
    SecurityEvent,
    Severity,
    Sink,
)

__all__ = [
    "REQUIRED_FIELDS",
    "SCHEMA_VERSION",
    "EventType",
    "EventValueError",
    "FanOut",
    "MemorySink",
    "SecurityEvent",
    "Severity",
    "Sink",
]
