"""One ``/metrics`` for every area: the HTTP counters of this process and the gauges computed from
the database at scrape time (so any worker gives the same answer).

Public when ``metrics_public`` is set; otherwise a token without a tenant (the exposition covers
every tenant's pools).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from v6ops.api.auth import PRINCIPAL_KEY
from v6ops.api.deps import get_store
from v6ops.auth.credentials import Principal
from v6ops.health import SEVERITY, settings_health
from v6ops.ipam.utilization import metrics_registry
from v6ops.settings import Settings
from v6ops.store.db import Store

router = APIRouter(include_in_schema=False)


def health_registry(settings: Settings) -> CollectorRegistry:
    report = settings_health(settings)
    registry = CollectorRegistry()
    ok = Gauge("v6ops_health_check_ok", "1 when the /health/ipv6 check passes", ["check"], registry=registry)
    for name, passed in report.checks.items():
        ok.labels(name).set(1 if passed else 0)
    Gauge("v6ops_health_status", "0 healthy, 1 degraded, 2 unhealthy", registry=registry).set(SEVERITY[report.status])
    return registry


@router.get("/metrics")
def metrics(request: Request, store: Store = Depends(get_store)) -> Response:
    who: Principal | None = request.scope.get(PRINCIPAL_KEY)
    if who is not None and who.tenant is not None:
        raise HTTPException(403, f"/metrics covers every tenant; {who.name!r} is scoped to tenant {who.tenant!r}")
    settings = request.app.state.settings
    with store.read() as session:
        ipam = generate_latest(metrics_registry(session))
    health = generate_latest(health_registry(settings))
    body = generate_latest(request.app.state.metrics_registry) + ipam + health
    return Response(body, media_type=CONTENT_TYPE_LATEST)
