"""FastAPI app factory. Routers are thin: they validate input and call the area packages.

Every request passes ``AuthMiddleware`` (a token or session, except the public paths) and the
app-wide ``authorize`` dependency (the route's role), so a router added here is protected as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.concurrency import run_in_threadpool

from v6ops import __version__
from v6ops.addr import AddressValueError, PrefixValueError
from v6ops.api import access, addresses, health, login, pages, security_pages
from v6ops.api import audit as audit_api
from v6ops.api import flows as flows_api
from v6ops.api import ipam as ipam_api
from v6ops.api import migrate as migrate_api
from v6ops.api import policy as policy_api
from v6ops.api import probes as probes_api
from v6ops.api import vms as vms_api
from v6ops.api.auth import ASGIApp, AuthMiddleware, PrincipalCache, Receive, Scope, Send, authorize
from v6ops.api.login import LoginLimiter
from v6ops.api.metrics import router as metrics_router
from v6ops.policy.metrics import SecurityMetrics
from v6ops.settings import Settings, load_settings
from v6ops.store.db import open_store
from v6ops.web import STATIC_DIR

log = logging.getLogger("v6ops.api")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API token from `v6ops token create`"},
    "session": {"type": "apiKey", "in": "cookie", "name": "v6ops_session",
                "description": "a dashboard session (unsafe methods also need X-CSRF-Token)"},
}


def route_label(scope: MutableMapping[str, Any]) -> str:
    """The full path template (``/api/v1/addresses/{text}``) for metric labels and logs.

    Included routers keep router-relative paths, so the mount prefix is recovered
    from the concrete path; labels stay low-cardinality either way.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if template is None:
        return "unmatched"
    try:
        tail = template.format(**scope.get("path_params", {}))
    except (KeyError, IndexError, ValueError):
        return str(template)
    path = str(scope.get("path", ""))
    return path[: len(path) - len(tail)] + template if path.endswith(tail) else str(template)


class AccessLog:
    """Counts, times and logs every request (pure ASGI: no extra task per request). Never logs headers,
    cookies or query strings, so no secret reaches the log."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            route = route_label(scope)
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                log.info("request", extra={"method": scope["method"], "route": route, "status": status,
                                           "ms": round(elapsed * 1000, 3), "client": client[0] if client else None})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Open the store and run its migrations when the server starts, not on the first request."""
        await run_in_threadpool(open_store, settings.resolved_database_url())
        yield

    app = FastAPI(
        title="v6ops",
        version=__version__,
        description="Plan, secure, watch and verify an IPv6 / dual-stack network. Every call needs "
                    "'Authorization: Bearer <token>' (`v6ops token create`) or a dashboard session, "
                    "except /health, /health/ipv6 and, if configured, /metrics.",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
    )
    app.state.settings = settings
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    requests = Counter("v6ops_http_requests", "HTTP requests served", ["method", "route", "status"], registry=registry)
    latency = Histogram("v6ops_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry)
    app.state.security_metrics = SecurityMetrics(registry, settings.metrics_namespace)
    app.state.principal_cache = PrincipalCache(settings.auth_cache_seconds)
    app.state.login_limiter = LoginLimiter(settings.login_failures_allowed)
    app.add_middleware(AuthMiddleware, settings=settings, cache=app.state.principal_cache)
    app.add_middleware(AccessLog, requests=requests, latency=latency)

    @app.exception_handler(AddressValueError)
    @app.exception_handler(PrefixValueError)
    async def bad_address(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(security_pages.router)
    app.include_router(access.router, prefix="/api/v1")
    app.include_router(addresses.router, prefix="/api/v1")
    app.include_router(policy_api.router, prefix="/api/v1")
    app.include_router(ipam_api.router, prefix="/api/v1")
    app.include_router(flows_api.router, prefix="/api/v1")
    app.include_router(vms_api.router, prefix="/api/v1")
    app.include_router(vms_api.events_router, prefix="/api/v1")
    app.include_router(audit_api.router, prefix="/api/v1")
    app.include_router(migrate_api.router, prefix="/api/v1")
    app.include_router(probes_api.router, prefix="/api/v1")
    _document_security(app)
    return app


def _document_security(app: FastAPI) -> None:
    """The OpenAPI document says which routes need a credential (all but the public ones) and which role."""
    from fastapi.openapi.utils import get_openapi

    from v6ops.api.auth import public_paths

    public = public_paths(app.state.settings)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        components["securitySchemes"] = SECURITY_SCHEMES
        # A 422 is a request-validation list from FastAPI, or the area's own message (a text naming the
        # input, or an object such as an import's rejected rows): the document says so.
        validation = components.get("schemas", {}).get("HTTPValidationError")
        if validation:
            detail = validation["properties"]["detail"]
            validation["properties"]["detail"] = {"title": "Detail", "anyOf": [
                detail, {"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "object"}]}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation["security"] = [] if path in public else [{"bearer": []}, {"session": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
