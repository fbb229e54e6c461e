"""Syslog sink: RFC 5424 messages carrying CEF (or JSON) over UDP (RFC 5426), TCP with octet counting
(RFC 6587 section 3.4.1) or TLS (RFC 5425, octet counting per section 4.3).

Delivery is at least once: a batch that fails part-way over TCP is sent again whole after a reconnect.
UDP gives no delivery guarantee at all (RFC 5426 section 4); a local send error is retried like TCP's.
"""

from __future__ import annotations

import select
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from v6ops.events.cef import DEFAULT_MAPPING, CefMapping, format_cef
from v6ops.events.model import EventValueError, SecurityEvent
from v6ops.events.outbox import BufferConfig, DeliveryError, Outbox, RetryPolicy
from v6ops.events.rfc5424 import SyslogHeader, format_message, octet_counted

Transport = Literal["udp", "tcp", "tls"]
UDP_MAX = 65_000  # below the 65,507 (IPv4) / 65,527 (IPv6) octets a UDP datagram can carry
DEFAULT_PORTS = {"udp": 514, "tcp": 601, "tls": 6514}  # RFC 5426 s3.1, RFC 3195 / IANA, RFC 5425 s4.1


@dataclass(frozen=True)
class TlsConfig:
    """RFC 5425 section 5: the server is authenticated by its certificate; a client certificate is optional."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    verify: bool = True

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 5425 as updated by RFC 9662
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


class _Connection:
    """The socket to the receiver, (re)opened on demand."""

    def __init__(self, transport: Transport, host: str, port: int, tls: TlsConfig | None, timeout: float) -> None:
        self.transport, self.host, self.port, self.timeout = transport, host, port, timeout
        self.tls = tls or TlsConfig()
        self.ctx = self.tls.context() if transport == "tls" else None
        self.sock: socket.socket | None = None
        self.truncated = 0

    def _open(self) -> socket.socket:
        if self.transport == "udp":
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0][0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.connect((self.host, self.port))
            return sock
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.ctx is not None:
            sock = self.ctx.wrap_socket(sock, server_hostname=self.tls.server_name or self.host)
        return sock

    def send(self, messages: list[bytes]) -> None:
        try:
            if self.sock is not None and self.transport != "udp" and select.select([self.sock], [], [], 0)[0]:
                # A syslog receiver never writes to us: a readable socket is the peer's FIN or RST. Reconnect
                # now rather than let the kernel accept bytes that the closed peer will never read.
                self.close()
            if self.sock is None:
                self.sock = self._open()
            if self.transport == "udp":
                for m in messages:
                    if len(m) > UDP_MAX:  # one datagram can carry no more; a longer one would block the queue
                        m = m[:UDP_MAX]
                        self.truncated += 1
                    self.sock.send(m)
            else:
                self.sock.sendall(b"".join(octet_counted(m) for m in messages))
        except OSError as exc:  # ssl.SSLError is an OSError
            self.close()
            raise DeliveryError(f"syslog {self.transport}://{self.host}:{self.port}: {exc}") from exc

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class SyslogSink:
    """Events as RFC 5424 lines with a CEF (default) or JSON MSG, buffered in an :class:`Outbox`."""

    def __init__(self, host: str, port: int | None = None, *, transport: Transport = "udp",
                 payload: Literal["cef", "json"] = "cef", header: SyslogHeader | None = None,
                 mapping: CefMapping = DEFAULT_MAPPING, tls: TlsConfig | None = None, timeout: float = 10.0,
                 buffer: BufferConfig | None = None, retry: RetryPolicy | None = None,
                 spool_dir: str | Path | None = None) -> None:
        if transport not in DEFAULT_PORTS:
            raise EventValueError(f"syslog transport {transport!r} is not one of udp, tcp, tls")
        if payload not in ("cef", "json"):
            raise EventValueError(f"syslog payload {payload!r} is not cef or json")
        self.payload, self.mapping = payload, mapping
        self.header = header or SyslogHeader()
        self._prefix = self.header.prefix()
        self.connection = _Connection(transport, host, port or DEFAULT_PORTS[transport], tls, timeout)
        self.outbox = Outbox(self.connection.send, buffer=buffer, retry=retry, spool_dir=spool_dir,
                             name=f"syslog-{transport}")

    def encode(self, event: SecurityEvent) -> bytes:
        msg = format_cef(event, self.mapping) if self.payload == "cef" else event.to_json()
        return format_message(event, msg, self.header, self._prefix)

    def emit(self, event: SecurityEvent) -> None:
        self.outbox.put(self.encode(event))

    def flush(self) -> None:
        self.outbox.flush()

    def close(self) -> None:
        self.outbox.close()
        self.connection.close()

    @property
    def dropped(self) -> int:
        return self.outbox.dropped
