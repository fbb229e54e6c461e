"""Where the service's security events go: the event store, the metrics, the audit log and the
configured sinks (JSON Lines file, syslog with CEF, HTTPS SIEM), all through one :class:`FanOut`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from v6ops.events import FanOut, Sink
from v6ops.events.audit import AuditLog
from v6ops.events.jsonl import JsonLinesSink
from v6ops.events.model import EventValueError
from v6ops.events.siem import SiemSink, read_token
from v6ops.events.syslog import SyslogSink, TlsConfig
from v6ops.policy.event_store import EventStore
from v6ops.policy.metrics import MetricsSink, SecurityMetrics


def syslog_sink(target: str, ca_file: Path | None, spool_dir: Path) -> SyslogSink:
    """``udp://host:port``, ``tcp://host:port`` or ``tls://host:port`` (IPv6 literals in brackets)."""
    parts = urlsplit(target)
    if parts.scheme not in ("udp", "tcp", "tls") or not parts.hostname:
        raise EventValueError(f"syslog target {target!r} is not udp://, tcp:// or tls://host[:port]")
    try:
        port = parts.port
    except ValueError as exc:
        raise EventValueError(f"syslog target {target!r}: {exc}") from exc
    tls = TlsConfig(ca_file=str(ca_file) if ca_file else None) if parts.scheme == "tls" else None
    return SyslogSink(parts.hostname, port, transport=parts.scheme, tls=tls,  # type: ignore[arg-type]
                      spool_dir=None if parts.scheme == "udp" else spool_dir / "syslog")


def event_sinks(store: EventStore, metrics: SecurityMetrics | None, audit: AuditLog | None, *, spool_dir: Path,
                jsonl: Path | None = None, syslog: str | None = None, syslog_ca: Path | None = None,
                siem_url: str | None = None, siem_token_file: Path | None = None,
                siem_ca: Path | None = None) -> FanOut:
    """The store first (queries see an event once ``flush`` returns), then metrics, audit log, sinks."""
    sinks: list[Sink] = [store]
    if metrics is not None:
        sinks.append(MetricsSink(metrics))
    if audit is not None:
        sinks.append(audit)
    if jsonl:
        sinks.append(JsonLinesSink(jsonl))
    if syslog:
        sinks.append(syslog_sink(syslog, syslog_ca, spool_dir))
    if siem_url:
        token = read_token(token_file=siem_token_file)
        verify: str | bool = str(siem_ca) if siem_ca else True
        sinks.append(SiemSink(siem_url, token=token, verify=verify, spool_dir=spool_dir / "siem"))
    return FanOut(*sinks)
