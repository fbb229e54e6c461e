"""``/health`` (the process answers) and ``/health/ipv6`` (the IPv6 service works); both public."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from v6ops import __version__
from v6ops.health import settings_health

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/health/ipv6", response_model=None, responses={503: {"description": "unhealthy: the failing checks are named"}},
            summary="IPv6 health: prefix headroom, database, nftables, flow ingest, event backlog, provisioning")
def health_ipv6(request: Request) -> Any:
    body = settings_health(request.app.state.settings).as_dict()
    return JSONResponse(body, status_code=503 if body["status"] == "unhealthy" else 200)
