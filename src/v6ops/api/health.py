"""``/health`` (the process answers) and ``/health/ipv6`` (the IPv6 service works); both public."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from v6ops import __version__
from v6ops.api.deps import get_store
from v6ops.health import ipv6_health
from v6ops.store.db import Store

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/health/ipv6", responses={503: {"description": "unhealthy: the failing checks are named"}},
            summary="IPv6 health: prefix headroom, database, nftables, flow ingest, event backlog, provisioning")
def health_ipv6(request: Request, store: Store = Depends(get_store)) -> Any:
    max_age = timedelta(hours=request.app.state.settings.flow_ingest_max_age_hours)
    body = ipv6_health(store, max_age).as_dict()
    return JSONResponse(body, status_code=503 if body["status"] == "unhealthy" else 200)
