"""Dashboard pages of VM security and security events: the same service calls as ``/api/v1/vms`` and
``/api/v1/security/events``, scoped to the caller's tenant (another tenant's VM or event is a 404 page).

Read-only, so the viewer role sees them all. Each page links the JSON it shows, with the same filters.
Flow detections are security events too (``source`` ``flows.detect``, no VM, the installation's):
they are listed here for callers without a tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from v6ops.api.auth import principal
from v6ops.api.pages import PAGE_SIZE, render
from v6ops.api.vms import get_events, get_service
from v6ops.auth.credentials import Principal
from v6ops.events import EventType, Severity
from v6ops.policy.event_store import EventQueryError, EventStore
from v6ops.policy.vms import VmError, VmNotFoundError, VmSecurityService

router = APIRouter(include_in_schema=False)
RECENT = 10  # events shown on a VM's page
SEVERITIES = [s.value for s in sorted(Severity, key=lambda s: s.rank)]
EVENT_TYPES = [t.value for t in EventType]
EVENT_FILTERS = ("min_severity", "event_type", "vm_id", "customer_id", "start", "end")


def _offset(offset: int) -> int:
    return max(0, min(offset, 2**31 - 1))


def _not_found(request: Request, who: Principal, what: str, back: str, label: str) -> Response:
    return render(request, who, "notfound.html", back, status=404, what=what, back=back, back_label=label)


@router.get("/vms")
async def vms(request: Request, customer_id: str = "", profile: str = "", offset: int = 0,
              who: Principal = Depends(principal), service: VmSecurityService = Depends(get_service)) -> Response:
    offset = _offset(offset)
    customer_id, profile = customer_id[:64], profile[:64]
    filters = {k: v for k, v in (("customer_id", customer_id), ("profile", profile)) if v}
    error, status = None, 200
    try:
        page = await run_in_threadpool(lambda: service.list_vms(
            customer_id=customer_id or None, profile=profile or None, offset=offset, limit=PAGE_SIZE,
            tenant=who.tenant))
        rows = page.vms
        total = page.total
    except VmError as exc:
        rows, total, error, status = [], 0, str(exc), exc.status
    return render(request, who, "vms.html", "/vms", status=status, rows=rows, total=total, offset=offset,
                  page_size=PAGE_SIZE, filters=filters, pager_query=urlencode(filters), error=error,
                  json_url="/api/v1/vms?" + urlencode({**filters, "limit": PAGE_SIZE, "offset": offset}))


def _vm_page(service: VmSecurityService, events: EventStore, vm_id: str, tenant: str | None) -> dict[str, Any]:
    vm = service.get(vm_id, tenant)
    return {"vm": vm, "table": service.compiled_table(vm_id, tenant), "history": service.history(vm_id, tenant=tenant),
            "events": events.query(vm_id=vm_id, tenant=tenant, limit=RECENT)}


@router.get("/vms/{vm_id}")
async def vm(vm_id: str, request: Request, who: Principal = Depends(principal),
             service: VmSecurityService = Depends(get_service), events: EventStore = Depends(get_events)) -> Response:
    try:
        data = await run_in_threadpool(_vm_page, service, events, vm_id, who.tenant)
    except VmNotFoundError:
        return _not_found(request, who, f"VM {vm_id!r}", "/vms", "all VMs")
    return render(request, who, "vm.html", "/vms", quoted=quote(vm_id, safe=""), **data)


def _time(name: str, text: str) -> datetime | None:
    """A ``datetime-local`` field (UTC) or an ISO 8601 time; EventQueryError names the field."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise EventQueryError(f"{name} {text[:40]!r} is not a date and time (YYYY-MM-DDTHH:MM, UTC)") from exc


@router.get("/events")
async def events_page(request: Request, min_severity: str = "", event_type: str = "", vm_id: str = "",
                      customer_id: str = "", start: str = "", end: str = "", offset: int = 0,
                      who: Principal = Depends(principal), events: EventStore = Depends(get_events)) -> Response:
    offset = _offset(offset)
    given = dict(zip(EVENT_FILTERS, (min_severity, event_type, vm_id, customer_id, start, end), strict=True))
    filters = {k: v[:256] for k, v in given.items() if v}
    error, status, rows, total = None, 200, [], 0
    try:
        page = await run_in_threadpool(lambda: events.query(
            min_severity=min_severity or None, event_type=event_type or None, vm_id=vm_id or None,
            customer_id=customer_id or None, start=_time("start", start), end=_time("end", end), offset=offset,
            limit=PAGE_SIZE, tenant=who.tenant))
        rows, total = page.events, page.total
    except EventQueryError as exc:
        error, status = str(exc), 400
    return render(request, who, "events.html", "/events", status=status, rows=rows, total=total, offset=offset,
                  page_size=PAGE_SIZE, filters=filters, pager_query=urlencode(filters), error=error,
                  severities=SEVERITIES, event_types=EVENT_TYPES,
                  json_url="/api/v1/security/events?" + urlencode({**filters, "limit": PAGE_SIZE, "offset": offset}))


@router.get("/events/{event_id}")
async def event(event_id: str, request: Request, who: Principal = Depends(principal),
                events: EventStore = Depends(get_events)) -> Response:
    found = await run_in_threadpool(events.get, event_id, who.tenant)
    if found is None:
        return _not_found(request, who, f"event {event_id!r}", "/events", "all events")
    data = found.to_dict()
    return render(request, who, "event.html", "/events", event=data, details=data.pop("details", None) or {},
                  quoted=quote(event_id, safe=""))

