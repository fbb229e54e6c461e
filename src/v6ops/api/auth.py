"""Authentication for every request, in one place, and the ``principal`` dependency routers use.

``AuthMiddleware`` wraps the whole app, so any route added later (a router, a mount, a page) needs a
bearer token or a signed-in session unless its path is in ``public_paths``: nothing to remember
when adding a router, and ``tests/api/test_auth.py`` walks the OpenAPI document to prove it.

The roles are checked by ``authorize``, a dependency of the whole app: safe methods need ``viewer``,
other methods ``operator``; a route can ask for another role with ``openapi_extra=needs(Role.X)``
(documented in the OpenAPI document as ``x-v6ops-role``). Routers use ``principal`` for tenant scoping::

    @router.get("/things")
    def things(who: Principal = Depends(principal)) -> ...:
        ...  # who.tenant is None for the whole installation, else the one tenant it may see

Browser sessions: an HttpOnly, SameSite=Lax cookie (Secure on HTTPS and loopback), and for every
unsafe method a CSRF token derived from the session secret, sent as ``X-CSRF-Token`` or as the
``csrf_token`` form field; a cross-origin ``Origin`` is refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, quote

import anyio.to_thread
from fastapi import HTTPException
from starlette.requests import HTTPConnection

from v6ops.auth.credentials import Principal, Role, authenticate_secret, secret_hash, utcnow
from v6ops.settings import Settings
from v6ops.store.db import open_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_KEY = "v6ops.principal"
SESSION_COOKIE = "v6ops_session"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 1 << 20
ROLE_KEY = "x-v6ops-role"


def needs(role: Role) -> dict[str, Any]:
    """``openapi_extra`` for a route that needs another role than its method's default."""
    return {ROLE_KEY: role.label}


def public_paths(settings: Settings) -> frozenset[str]:
    paths = {"/health", "/health/ipv6", "/login", "/favicon.ico"}
    if settings.metrics_public:
        paths.add("/metrics")
    return frozenset(paths)


def is_public(path: str, public: frozenset[str]) -> bool:
    return path in public or path.startswith("/static/")


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a session: an HMAC of its secret, so it needs no storage and cannot be guessed."""
    return hmac.new(session_secret.encode(), b"v6ops csrf", hashlib.sha256).hexdigest()


def cookies(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key and key not in out:
                    out[key] = val
    return out


def header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


class PrincipalCache:
    """Recently seen credentials, so a request costs a dict lookup, not a database query.

    An entry lives ``seconds`` at most (and never past the credential's expiry); a revocation or
    sign-out in this process clears the cache at once, one in another process within ``seconds``.
    """

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key: str) -> Principal | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return hit[0]

    def put(self, key: str, principal: Principal) -> None:
        if self.seconds <= 0:
            return
        lifetime = self.seconds
        if principal.expires_at is not None:
            lifetime = min(lifetime, (principal.expires_at - utcnow()).total_seconds())
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (principal, time.monotonic() + lifetime)

    def clear(self) -> None:
        self._entries.clear()


async def _send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


class AuthMiddleware:
    """Pure ASGI (no per-request task or body copy, unlike BaseHTTPMiddleware): sets the principal or answers 401."""

    def __init__(self, app: ASGIApp, settings: Settings, cache: PrincipalCache) -> None:
        self.app = app
        self.settings = settings
        self.public = public_paths(settings)
        self.cache = cache

    def _lookup(self, secret: str, kind: str) -> Principal | None:
        return authenticate_secret(open_store(self.settings.resolved_database_url()), secret, kind)

    async def principal_for(self, secret: str, kind: str) -> Principal | None:
        key = kind + ":" + secret_hash(secret)
        found = self.cache.get(key)
        if found is None:
            found = await anyio.to_thread.run_sync(self._lookup, secret, kind)
            if found is not None:
                self.cache.put(key, found)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_public(scope["path"], self.public):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        authorization = header(scope, b"authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            who = await self.principal_for(token.strip(), "api") if scheme.lower() == "bearer" else None
            if who is None:
                await _send_json(send, 401, "invalid, expired or revoked bearer token",
                                 [(b"www-authenticate", b'Bearer error="invalid_token"')])
                return
            scope[PRINCIPAL_KEY] = who
            await self.app(scope, receive, send)
            return
        session_secret = cookies(scope).get(SESSION_COOKIE)
        who = await self.principal_for(session_secret, "session") if session_secret else None
        if who is None or session_secret is None:
            await self._unauthenticated(scope, send)
            return
        if scope["method"] not in SAFE_METHODS:
            checked = await self._csrf_checked(scope, receive, send, session_secret)
            if checked is None:
                return
            receive = checked
        scope[PRINCIPAL_KEY] = who
        await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket needs a bearer token or a session too (a browser's cross-site WebSocket carries the
        cookie, so a session's must come from this site's Origin); refused with close code 1008."""
        authorization = header(scope, b"authorization") or ""
        scheme, _, token = authorization.partition(" ")
        session_secret = cookies(scope).get(SESSION_COOKIE)
        origin, host = header(scope, b"origin"), header(scope, b"host")
        who = None
        if scheme.lower() == "bearer":
            who = await self.principal_for(token.strip(), "api")
        elif session_secret and (origin is None or origin.split("://", 1)[-1] == host):
            who = await self.principal_for(session_secret, "session")
        if who is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        scope[PRINCIPAL_KEY] = who
        await self.app(scope, receive, send)

    async def _unauthenticated(self, scope: Scope, send: Send) -> None:
        accept = header(scope, b"accept") or ""
        if scope["method"] == "GET" and "text/html" in accept and not scope["path"].startswith("/api/"):
            target = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            await _redirect(send, "/login?next=" + quote(target, safe=""))
            return
        await _send_json(send, 401, "authentication required: send 'Authorization: Bearer <token>' "
                         "(v6ops token create) or sign in at /login", [(b"www-authenticate", b"Bearer")])

    async def _csrf_checked(self, scope: Scope, receive: Receive, send: Send, session_secret: str) -> Receive | None:
        """The receive to pass on if the request carries the session's CSRF token, else None (403 sent)."""
        origin = header(scope, b"origin")
        host = header(scope, b"host")
        if origin is not None and host is not None and origin.split("://", 1)[-1] != host:
            await _send_json(send, 403, f"cross-origin request from {origin!r} refused")
            return None
        expected = csrf_token(session_secret)
        sent = header(scope, b"x-csrf-token")
        if sent is None:
            sent = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(CSRF_FIELD, [None])[0]
        content_type = header(scope, b"content-type") or ""
        replay = receive
        if sent is None and content_type.startswith("application/x-www-form-urlencoded"):
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > MAX_FORM_BYTES:
                    await _send_json(send, 413, f"form larger than {MAX_FORM_BYTES} bytes")
                    return None
            sent = parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [None])[0]
            replay = _replay(body)
        if sent is None or not hmac.compare_digest(sent, expected):
            await _send_json(send, 403, "missing or wrong CSRF token (X-CSRF-Token header or csrf_token field)")
            return None
        return replay


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def required_role(connection: HTTPConnection) -> Role:
    route = connection.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    if ROLE_KEY in extra:
        return Role.parse(extra[ROLE_KEY])
    # A WebSocket (no method) reads unless its route asks for more.
    return Role.VIEWER if connection.scope.get("method", "GET") in SAFE_METHODS else Role.OPERATOR


async def authorize(connection: HTTPConnection) -> None:
    """App-wide dependency: the caller's role must reach the route's (public routes have no caller)."""
    who: Principal | None = connection.scope.get(PRINCIPAL_KEY)
    if who is None:
        return
    wanted = required_role(connection)
    if not who.can(wanted):
        raise HTTPException(403, f"this needs the {wanted.label} role; {who.name!r} is {who.role.label}")


async def principal(connection: HTTPConnection) -> Principal:
    """The authenticated caller (``who.role``, ``who.tenant``); 401 on a public route without one."""
    who: Principal | None = connection.scope.get(PRINCIPAL_KEY)
    if who is None:
        raise HTTPException(401, "authentication required")
    return who


async def installation_admin(connection: HTTPConnection) -> Principal:
    """An admin of the whole installation (no tenant): plans are shared by every tenant."""
    who = await principal(connection)
    if not who.can(Role.ADMIN) or who.tenant is not None:
        raise HTTPException(403, f"this needs an admin without a tenant; {who.name!r} is {who.role.label}"
                            + (f" of tenant {who.tenant!r}" if who.tenant else ""))
    return who
