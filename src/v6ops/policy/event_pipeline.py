"""Where the service's security events go: the event store, the metrics, the audit log and the
configured sinks (JSON Lines file, syslog with CEF, HTTPS SIEM), all through one :class:`FanOut`.

The sinks' settings are checked in one place, :func:`resolve_event_settings`: ``v6ops serve`` runs it
before it listens (a bad setting stops the start with a message), and the app runs it again when it
opens the sinks on first use (a token file removed after the start answers 503, not 500). Either way
the error names the setting and the file and what is wrong with it, never a secret's value.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from v6ops.events import FanOut, Sink
from v6ops.events.audit import AuditLog
from v6ops.events.jsonl import JsonLinesSink
from v6ops.events.model import EventValueError
from v6ops.events.siem import SiemSink, check_siem_url, read_token
from v6ops.events.syslog import SyslogSink, TlsConfig
from v6ops.policy.event_store import EventStore
from v6ops.policy.metrics import MetricsSink, SecurityMetrics
from v6ops.settings import Settings


class EventConfigError(EventValueError):
    """A security-event setting that cannot be used; the message names the setting (its ``V6OPS_``
    variable too) and the problem, never a secret."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting, self.problem = setting, problem
        super().__init__(f"setting {setting} (V6OPS_{setting.upper()}): {problem}")


@contextmanager
def _setting(name: str) -> Iterator[None]:
    """Any error inside becomes an EventConfigError naming the setting ``name``."""
    try:
        yield
    except EventConfigError:
        raise
    except EventValueError as exc:
        raise EventConfigError(name, str(exc)) from exc
    except OSError as exc:
        raise EventConfigError(name, f"{str(exc.filename)!r} cannot be read: {exc.strerror}") from exc


def ca_context(path: Path) -> ssl.SSLContext:
    """A TLS client context trusting the CA bundle at ``path``; EventValueError naming it if unusable."""
    try:
        return ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:  # before OSError, its base
        raise EventValueError(f"CA bundle {str(path)!r} is not a usable certificate bundle "
                              f"({exc.reason or exc})") from exc
    except OSError as exc:  # ssl leaves the file name out of the error
        raise EventValueError(f"CA bundle {str(path)!r} cannot be read: {exc.strerror}") from exc


@dataclass(frozen=True)
class SyslogTarget:
    scheme: str  # udp, tcp or tls
    host: str
    port: int | None


def syslog_target(target: str) -> SyslogTarget:
    """``udp://host:port``, ``tcp://host:port`` or ``tls://host:port`` (IPv6 literals in brackets)."""
    parts = urlsplit(target)
    if parts.scheme not in ("udp", "tcp", "tls") or not parts.hostname:
        raise EventValueError(f"syslog target {target!r} is not udp://, tcp:// or tls://host[:port]")
    try:
        port = parts.port
    except ValueError as exc:
        raise EventValueError(f"syslog target {target!r}: {exc}") from exc
    return SyslogTarget(parts.scheme, parts.hostname, port)


@dataclass(frozen=True)
class EventSettings:
    """The event settings, checked: what the sinks are built from."""

    jsonl: Path | None
    syslog: SyslogTarget | None
    syslog_ca: Path | None
    siem_url: str | None
    siem_token: str
    siem_tls: ssl.SSLContext | None  # None: the system's CAs
    spool_dir: Path


def resolve_event_settings(settings: Settings) -> EventSettings:
    """Every event setting checked (files read, CA bundles loaded, targets parsed); EventConfigError
    names the first that cannot be used. Opens no connection and writes nothing."""
    if settings.events_jsonl is not None:
        with _setting("events_jsonl"):
            if not settings.events_jsonl.parent.is_dir():
                raise EventValueError(f"the folder of {str(settings.events_jsonl)!r} does not exist")
    syslog = None
    if settings.events_syslog:
        with _setting("events_syslog"):
            syslog = syslog_target(settings.events_syslog)
        if syslog.scheme == "tls" and settings.events_syslog_ca is not None:
            with _setting("events_syslog_ca"):
                ca_context(settings.events_syslog_ca)
    token, tls = "", None
    if settings.events_siem_url:
        with _setting("events_siem_url"):
            check_siem_url(settings.events_siem_url)
        with _setting("events_siem_token_file"):
            token = read_token(token_file=settings.events_siem_token_file)
            if settings.events_siem_token_file is not None and not token:
                raise EventValueError(f"SIEM token file {str(settings.events_siem_token_file)!r} is empty")
        if settings.events_siem_ca is not None:
            with _setting("events_siem_ca"):
                tls = ca_context(settings.events_siem_ca)
    return EventSettings(jsonl=settings.events_jsonl, syslog=syslog, syslog_ca=settings.events_syslog_ca,
                         siem_url=settings.events_siem_url or None, siem_token=token, siem_tls=tls,
                         spool_dir=settings.resolved_events_spool_dir())


def syslog_sink(target: SyslogTarget, ca_file: Path | None, spool_dir: Path) -> SyslogSink:
    tls = TlsConfig(ca_file=str(ca_file) if ca_file else None) if target.scheme == "tls" else None
    return SyslogSink(target.host, target.port, transport=target.scheme, tls=tls,  # type: ignore[arg-type]
                      spool_dir=None if target.scheme == "udp" else spool_dir / "syslog")


def event_sinks(store: EventStore, metrics: SecurityMetrics | None, audit: AuditLog | None,
                settings: Settings) -> FanOut:
    """The store first (queries see an event once ``flush`` returns), then metrics, audit log, sinks.
    EventConfigError when a setting cannot be used (nothing is left open then)."""
    config = resolve_event_settings(settings)
    sinks: list[Sink] = [store]
    if metrics is not None:
        sinks.append(MetricsSink(metrics))
    if audit is not None:
        sinks.append(audit)
    opened: list[Sink] = []
    try:
        if config.jsonl:
            with _setting("events_jsonl"):
                opened.append(JsonLinesSink(config.jsonl))
        if config.syslog:
            with _setting("events_spool_dir"):
                opened.append(syslog_sink(config.syslog, config.syslog_ca, config.spool_dir))
        if config.siem_url:
            with _setting("events_spool_dir"):
                opened.append(SiemSink(config.siem_url, token=config.siem_token, verify=config.siem_tls or True,
                                       spool_dir=config.spool_dir / "siem"))
    except EventConfigError:
        for sink in opened:
            sink.close()
        raise
    return FanOut(*sinks, *opened)
