"""HTTPS SIEM sink: batches of events POSTed as NDJSON (or CEF lines) with a bearer token.

Retry and buffering are the seed's (``retry_policy``, ``buffer_config``) through :class:`Outbox`;
with ``spool_dir`` the buffer is on disk too, so a restart during an outage loses nothing.
Status 2xx is delivered; 408, 425, 429 and 5xx and connection errors are retried; any other 4xx
means the SIEM refuses the events: they are counted in ``rejected`` and kept in ``rejected.jsonl``.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Literal

import httpx

from v6ops.events.cef import format_cef
from v6ops.events.model import EventValueError, SecurityEvent
from v6ops.events.outbox import BufferConfig, DeliveryError, Outbox, RetryPolicy

_RETRYABLE = frozenset({408, 425, 429})
_CONTENT_TYPE = {"json": "application/x-ndjson", "cef": "text/plain; charset=utf-8"}


def read_token(token: str | None = None, token_file: str | Path | None = None, env: str = "SIEM_AUTH_TOKEN") -> str:
    """The bearer token: given, from the seed's ``token_file``, or from ``$SIEM_AUTH_TOKEN``; never logged."""
    if token:
        return token
    if token_file:
        try:
            return Path(token_file).read_text().strip()
        except OSError as exc:
            raise EventValueError(f"SIEM token file {str(token_file)!r} cannot be read: {exc.strerror}") from exc
    return os.environ.get(env, "")


def check_siem_url(url: str) -> None:
    if not url.startswith(("https://", "http://")):
        raise EventValueError(f"SIEM endpoint {url!r} is not an http(s) URL")


class SiemSink:
    """Events to an HTTPS endpoint. ``verify`` is a CA bundle path, a TLS context, True (system CAs) or
    False (tests only)."""

    def __init__(self, url: str, *, token: str = "", payload: Literal["json", "cef"] = "json",
                 verify: str | bool | ssl.SSLContext = True, timeout: float = 10.0, buffer: BufferConfig | None = None,
                 retry: RetryPolicy | None = None, spool_dir: str | Path | None = None) -> None:
        check_siem_url(url)
        if payload not in _CONTENT_TYPE:
            raise EventValueError(f"SIEM payload {payload!r} is not json or cef")
        self.url, self.payload = url, payload
        headers = {"Content-Type": _CONTENT_TYPE[payload], "User-Agent": "v6ops-events/1.0"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self.client = httpx.Client(verify=tls, timeout=timeout, headers=headers)
        self.outbox = Outbox(self._post, buffer=buffer, retry=retry, spool_dir=spool_dir, name="siem")

    def _post(self, records: list[bytes]) -> None:
        body = b"\n".join(records) + b"\n"
        try:
            response = self.client.post(self.url, content=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SIEM {self.url}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        raise DeliveryError(f"SIEM {self.url}: HTTP {status}", retryable=status in _RETRYABLE or status >= 500)

    def emit(self, event: SecurityEvent) -> None:
        self.outbox.put((format_cef(event) if self.payload == "cef" else event.to_json()).encode())

    def flush(self) -> None:
        self.outbox.flush()

    def close(self) -> None:
        self.outbox.close()
        self.client.close()

    @property
    def dropped(self) -> int:
        return self.outbox.dropped
