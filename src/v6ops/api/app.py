"""FastAPI app factory. Routers are thin: they validate input and call the area packages."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from v6ops import __version__
from v6ops.addr import AddressValueError, PrefixValueError
from v6ops.api import addresses, health
from v6ops.api import audit as audit_api
from v6ops.api import flows as flows_api
from v6ops.api import ipam as ipam_api
from v6ops.api import migrate as migrate_api
from v6ops.api import policy as policy_api
from v6ops.api import vms as vms_api
from v6ops.policy.metrics import SecurityMetrics
from v6ops.api import probes as probes_api
from v6ops.settings import Settings, load_settings

log = logging.getLogger("v6ops.api")


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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(
        title="v6ops",
        version=__version__,
        description="Plan, secure, watch and verify an IPv6 / dual-stack network.",
    )
    app.state.settings = settings
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    requests = Counter("v6ops_http_requests", "HTTP requests served", ["method", "route", "status"], registry=registry)
    latency = Histogram("v6ops_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry)
    app.state.security_metrics = SecurityMetrics(registry, settings.metrics_namespace)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - start
        route = route_label(request.scope)
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(request.method, route).observe(elapsed)
        log.info(
            "request",
            extra={"method": request.method, "route": route, "status": response.status_code,
                   "ms": round(elapsed * 1000, 3), "client": request.client.host if request.client else None},
        )
        return response

    @app.exception_handler(AddressValueError)
    @app.exception_handler(PrefixValueError)
    async def bad_address(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(health.router)
    app.include_router(addresses.router, prefix="/api/v1")
    app.include_router(policy_api.router, prefix="/api/v1")
    app.include_router(ipam_api.router, prefix="/api/v1")
    app.include_router(flows_api.router, prefix="/api/v1")
    app.include_router(vms_api.router, prefix="/api/v1")
    app.include_router(vms_api.events_router, prefix="/api/v1")
    app.include_router(audit_api.router, prefix="/api/v1")
    app.include_router(migrate_api.router, prefix="/api/v1")
    app.include_router(probes_api.router, prefix="/api/v1")
    return app
