"""The dashboard: server-rendered pages over the same service calls as the API, scoped to the caller's tenant.

Each page links the JSON endpoint it shows. Forms post back here (with the session's CSRF token,
checked by ``AuthMiddleware``) and redirect, so reloading never repeats an action.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from v6ops.api.auth import SESSION_COOKIE, cookies, csrf_token, principal
from v6ops.api.deps import get_store
from v6ops.auth.credentials import Principal
from v6ops.ipam import service
from v6ops.store.db import Store
from v6ops.web import templates

router = APIRouter(include_in_schema=False)


def render(request: Request, who: Principal, template: str, page: str, **context: Any) -> Response:
    secret = cookies(request.scope).get(SESSION_COOKIE)
    response = templates.TemplateResponse(request, template, {
        "who": who, "page": page, "csrf": csrf_token(secret) if secret else "", **context})
    response.headers["cache-control"] = "no-store"
    return response


def _overview(store: Store, tenant: str | None) -> dict[str, Any]:
    prefixes = service.list_prefixes(store, tenant)
    return {"adoption": service.adoption_metrics(store, tenant),
            "ranges": [p for p in prefixes if p["pool"] is not None],
            "events": service.list_events(store, 10, tenant)}


@router.get("/")
async def overview(request: Request, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    data = await run_in_threadpool(_overview, store, who.tenant)
    return render(request, who, "overview.html", "/", **data)
