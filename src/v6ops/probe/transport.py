"""The Happy Eyeballs racer under httpx: an httpcore network backend and an httpx transport.

    async with httpx.AsyncClient(transport=HappyEyeballsTransport(resolver=...)) as client:
        await client.get("https://dual.example/")

Every new connection is raced per RFC 8305 (``v6ops.probe.happy.connect``); ``backend.last_trace``
says which address won. TLS, HTTP/1.1 and connection pooling stay httpx's and httpcore's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from v6ops.probe import happy


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            async with asyncio.timeout(timeout):
                self.writer.write(buffer)
                await self.writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self.writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "client_addr":
            return self.writer.get_extra_info("sockname")
        if info == "server_addr":
            return self.writer.get_extra_info("peername")
        if info == "is_readable":
            return self.reader.at_eof() or self.writer.transport.is_closing()
        return self.writer.get_extra_info(info)  # ssl_object, socket


class HappyEyeballsBackend(httpcore.AsyncNetworkBackend):
    """Opens each TCP connection with ``happy.connect``; ``options`` are its keyword arguments."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.last_trace: happy.RaceTrace | None = None

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        if local_address is not None:
            raise httpcore.ConnectError("a local address cannot be chosen for a Happy Eyeballs race")
        try:
            sock, trace = await happy.connect(host, port, timeout=timeout, **self.options)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"{host} port {port}: no connection in {timeout} s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        self.last_trace = trace
        for option in socket_options or ():
            sock.setsockopt(*option)
        reader, writer = await asyncio.open_connection(sock=sock)
        return _Stream(reader, writer)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Happy Eyeballs races TCP addresses, not Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class HappyEyeballsTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (pooling, TLS, HTTP/1.1, error mapping) with connections raced per RFC 8305."""

    def __init__(self, *, verify: bool | ssl.SSLContext = True, http2: bool = False, **race_options: Any) -> None:
        super().__init__(verify=verify, http2=http2)
        self.backend = HappyEyeballsBackend(**race_options)
        context = verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()
        if verify is False:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        # httpx exposes no backend argument; its pool is replaced by one with ours (same defaults).
        self._pool = httpcore.AsyncConnectionPool(ssl_context=context, http2=http2, network_backend=self.backend)
