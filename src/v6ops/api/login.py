"""Sign-in for the dashboard: a one-time link (``/login?token=...``, printed on first start) or a password.

Failed attempts are limited per client address and per user name (``login_failures_allowed`` per
5 minutes, then 429 with Retry-After), in each server process.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import timedelta
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from v6ops.api.auth import SESSION_COOKIE, cookies
from v6ops.api.deps import get_store
from v6ops.auth import credentials
from v6ops.web import templates

router = APIRouter(include_in_schema=False)
WINDOW_SECONDS = 300.0
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


class LoginLimiter:
    """Sliding window of failures per key (client address, user name)."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, *keys: str) -> int:
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            times = self._failures.get(key)
            while times and times[0] <= now - WINDOW_SECONDS:
                times.popleft()
            if times and len(times) >= self.allowed:
                wait = max(wait, times[0] + WINDOW_SECONDS - now)
        return int(wait) + 1 if wait else 0

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) > 100_000:
            self._failures.clear()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)


def _next(target: str | None) -> str:
    """Only a path of this site: never an absolute or scheme-relative URL (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    mode = request.app.state.settings.cookie_secure
    if mode != "auto":
        return bool(mode == "always")
    return request.url.scheme == "https" or (request.url.hostname or "") in LOOPBACK


def _signed_in(request: Request, session_secret: str, target: str) -> Response:
    response = RedirectResponse(_next(target), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_secret, max_age=request.app.state.settings.session_hours * 3600,
                        httponly=True, samesite="lax", secure=_secure(request), path="/")
    return response


def _page(request: Request, error: str | None = None, status: int = 200, target: str = "/") -> Response:
    response = templates.TemplateResponse(request, "login.html", {"error": error, "next": _next(target)},
                                          status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/login")
async def login_page(request: Request, token: str | None = None, next: str | None = None) -> Response:
    if token is None:
        return _page(request, target=next or "/")
    store = await get_store(request)
    ttl = timedelta(hours=request.app.state.settings.session_hours)
    session_secret = await run_in_threadpool(credentials.redeem_sign_in_link, store, token, ttl)
    if session_secret is None:
        return _page(request, "This sign-in link is invalid, expired or already used. "
                     "Make a new one with 'v6ops user sign-in-link NAME'.", 401)
    return _signed_in(request, session_secret, next or "/")


@router.post("/login")
async def login(request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        return _page(request, f"cross-origin sign-in from {origin!r} refused", 403)
    form = parse_qs((await request.body())[:65536].decode("utf-8", "replace"))
    name = form.get("username", [""])[0].strip()
    password = form.get("password", [""])[0]
    target = form.get("next", ["/"])[0]
    limiter: LoginLimiter = request.app.state.login_limiter
    client = "addr:" + (request.client.host if request.client else "?")
    keys = (client, "user:" + name.lower())
    wait = limiter.retry_after(*keys)
    if wait:
        response = _page(request, f"Too many failed sign-ins; try again in {wait} s.", 429, target)
        response.headers["retry-after"] = str(wait)
        return response
    store = await get_store(request)
    ttl = timedelta(hours=request.app.state.settings.session_hours)
    session_secret = await run_in_threadpool(credentials.password_sign_in, store, name, password, ttl) if name else None
    if session_secret is None:
        limiter.failed(*keys)
        return _page(request, "Unknown user or wrong password.", 401, target)
    return _signed_in(request, session_secret, target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    secret = cookies(request.scope).get(SESSION_COOKIE)
    if secret:
        await run_in_threadpool(credentials.end_session, await get_store(request), secret)
        request.app.state.principal_cache.clear()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
