"""``/api/v1/vms`` and ``/api/v1/security/events``: the VM security API (the seed's scripts' paths).

Thin: requests are checked here, everything else is ``v6ops.policy.vms`` and ``v6ops.policy.event_store``,
the same service the gRPC ``VmService`` calls. The tenant is the explicit ``customer_id`` field; a
tenant-scoped caller sees and changes only its own VMs and events (others' are 404).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from v6ops.api.auth import principal
from v6ops.api.deps import get_store
from v6ops.auth.credentials import Principal
from v6ops.events import FanOut, SecurityEvent
from v6ops.events.audit import AuditLog, Keyring, load_signing_key
from v6ops.policy.event_pipeline import EventConfigError, event_sinks
from v6ops.policy.event_store import EventPage, EventQueryError, EventStore
from v6ops.policy.vms import VmConfigError, VmError, VmPage, VmSecurityService, VmView
from v6ops.store.db import Store, open_store

_lock = threading.Lock()
log = logging.getLogger(__name__)


@asynccontextmanager
async def event_delivery(app: FastAPI) -> AsyncIterator[None]:
    """With a network sink configured, every worker process opens its sinks when it starts (else on first
    use), so it adopts at once the spool folders of workers that are gone and delivers what they left."""
    settings = app.state.settings
    if settings.events_siem_url or settings.events_syslog:
        try:
            await run_in_threadpool(open_service, app, open_store(settings.resolved_database_url()))
        except EventConfigError as exc:  # requests that need the sinks answer 503 naming it, until fixed
            log.warning("security event sinks not opened at start", extra={"setting": exc.setting})
    yield
    sink = getattr(app.state, "event_sink", None)
    if sink is not None:
        sink.close()  # flushes the store, the sinks (spooling what is undelivered) and the audit log
    service = getattr(app.state, "vm_service", None)
    if service is not None and service.audit is not None:
        service.audit.close()


router = APIRouter(prefix="/vms", tags=["vms"], lifespan=event_delivery)
events_router = APIRouter(prefix="/security", tags=["security events"])


def open_service(app: FastAPI, store: Store) -> VmSecurityService:
    """One service per app: the store, the audit log from the settings and the app's security metrics."""
    with _lock:
        service: VmSecurityService | None = getattr(app.state, "vm_service", None)
        if service is None:
            settings = app.state.settings
            path = settings.resolved_audit_log()
            path.parent.mkdir(parents=True, exist_ok=True)
            audit = AuditLog(path, keyring=Keyring.load(settings.audit_key_file),
                             signing_key=load_signing_key(settings.audit_signing_key) if settings.audit_signing_key
                             else None)
            metrics = getattr(app.state, "security_metrics", None)
            events = EventStore(store)
            try:
                sink = event_sinks(events, metrics, audit, settings)
            except EventConfigError as exc:
                # Checked at `v6ops serve` start, so the setting broke since (a token file removed):
                # nothing stays open, and the next call tries again (it works once the setting is fixed).
                audit.close()
                log.error("security event sinks cannot start", extra={"setting": exc.setting, "problem": exc.problem})
                raise
            service = VmSecurityService(store, audit, metrics)
            app.state.event_store, app.state.event_sink, app.state.vm_service = events, sink, service
        return service


def _opened(request: Request, store: Store) -> VmSecurityService:
    """The app's service; 503 naming the setting (never a secret) when the event sinks cannot open."""
    try:
        return open_service(request.app, store)
    except EventConfigError as exc:
        raise HTTPException(status_code=503, detail={
            "error": "the security event sinks are misconfigured", "setting": exc.setting,
            "problem": exc.problem}) from exc


async def get_service(request: Request, store: Store = Depends(get_store)) -> VmSecurityService:
    return _opened(request, store)


async def get_events(request: Request, store: Store = Depends(get_store)) -> EventStore:
    _opened(request, store)
    events: EventStore = request.app.state.event_store
    return events


async def get_event_sink(request: Request, store: Store = Depends(get_store)) -> FanOut:
    _opened(request, store)
    sink: FanOut = request.app.state.event_sink
    return sink


def actor_of(request: Request, who: Principal) -> str:
    """Who made the change: the authenticated caller's name and the client's address."""
    return who.actor(request.client.host if request.client else "-")


def _http(exc: VmError) -> HTTPException:
    if isinstance(exc, VmConfigError):
        return HTTPException(status_code=422, detail=[
            {"loc": p.path.replace("[", ".").replace("]", "").split("."), "path": p.path, "msg": p.message,
             "type": p.code} for p in exc.problems])
    return HTTPException(status_code=exc.status, detail=str(exc))


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().strip('"')
    if not text.isdigit():
        raise HTTPException(status_code=400, detail=f"If-Match {if_match!r} is not a version number")
    return int(text)


class VmConfigBody(BaseModel):
    """The seed's ``CreateVm`` config: only ``ipv6_config`` is read; the VM manager's fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    ipv6_config: dict[str, Any] = Field(default_factory=dict)


class VmCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="VM id: 1-64 letters, digits, '.', '_' or '-'.")
    customer_id: str = Field(description="The tenant that owns the VM.")
    name: str = ""
    tier: str = Field(default="", description="Customer tier (e.g. premium), for staged rollouts.")
    config: VmConfigBody


class VmReplace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: VmConfigBody


class Rollback(BaseModel):
    version: int = Field(ge=1)


@router.post("", status_code=201, response_model=VmView, summary="Create a VM with its IPv6 security config")
def create_vm(body: VmCreate, request: Request, service: VmSecurityService = Depends(get_service),
              who: Principal = Depends(principal)) -> VmView:
    try:
        return service.create(body.id, body.customer_id, body.config.ipv6_config, name=body.name, tier=body.tier,
                              actor=actor_of(request, who), tenant=who.tenant)
    except VmError as exc:
        raise _http(exc) from exc


@router.get("", response_model=VmPage, summary="List VMs (filters and offset pagination)")
def list_vms(customer_id: str | None = None, tier: str | None = None, profile: str | None = None,
             offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
             service: VmSecurityService = Depends(get_service), who: Principal = Depends(principal)) -> VmPage:
    try:
        return service.list_vms(customer_id=customer_id, tier=tier, profile=profile, offset=offset, limit=limit,
                                tenant=who.tenant)
    except VmError as exc:
        raise _http(exc) from exc


@router.get("/{vm_id}", response_model=VmView, summary="One VM")
def get_vm(vm_id: str, response: Response, service: VmSecurityService = Depends(get_service),
           who: Principal = Depends(principal)) -> VmView:
    try:
        view = service.get(vm_id, who.tenant)
    except VmError as exc:
        raise _http(exc) from exc
    response.headers["ETag"] = f'"{view.version}"'
    return view


@router.put("/{vm_id}", response_model=VmView, summary="Replace the VM's IPv6 config (If-Match: version)")
def replace_vm(vm_id: str, body: VmReplace, request: Request, if_match: str | None = Header(None),
               service: VmSecurityService = Depends(get_service), who: Principal = Depends(principal)) -> VmView:
    try:
        return service.replace(vm_id, body.config.ipv6_config, actor=actor_of(request, who),
                               expected_version=_version(if_match), tenant=who.tenant)
    except VmError as exc:
        raise _http(exc) from exc


@router.get("/{vm_id}/security", summary="The VM's IPv6 security config (the seed's .ipv6_security)")
def get_security(vm_id: str, service: VmSecurityService = Depends(get_service),
                 who: Principal = Depends(principal)) -> dict[str, Any]:
    try:
        view = service.get(vm_id, who.tenant)
    except VmError as exc:
        raise _http(exc) from exc
    return {"vm_id": view.id, "customer_id": view.customer_id, "version": view.version,
            "ipv6_security": view.ipv6_config.get("security", {}), "compiled_sha256": view.compiled_sha256}


@router.patch("/{vm_id}/security", response_model=VmView, summary="Merge-patch the security config (RFC 7396)")
def patch_security(vm_id: str, patch: dict[str, Any], request: Request, if_match: str | None = Header(None),
                   service: VmSecurityService = Depends(get_service), who: Principal = Depends(principal)) -> VmView:
    try:
        return service.patch_security(vm_id, patch, actor=actor_of(request, who), expected_version=_version(if_match),
                                      tenant=who.tenant)
    except VmError as exc:
        raise _http(exc) from exc


@router.delete("/{vm_id}", status_code=204, summary="Delete the VM (its history is kept)")
def delete_vm(vm_id: str, request: Request, service: VmSecurityService = Depends(get_service),
              who: Principal = Depends(principal)) -> Response:
    try:
        service.delete(vm_id, actor=actor_of(request, who), tenant=who.tenant)
    except VmError as exc:
        raise _http(exc) from exc
    return Response(status_code=204)


@router.get("/{vm_id}/history", summary="Every version; with ?timestamp= the config in force then")
def history(vm_id: str, timestamp: datetime | None = None,
            service: VmSecurityService = Depends(get_service), who: Principal = Depends(principal)) -> dict[str, Any]:
    try:
        versions = service.history(vm_id, timestamp, who.tenant)
    except VmError as exc:
        raise _http(exc) from exc
    if timestamp is None:
        return {"vm_id": vm_id, "versions": [v.model_dump(mode="json") for v in versions]}
    v = versions[0].model_dump(mode="json")
    config = v["ipv6_config"] or {}
    return {**v, "config": {"ipv6_config": config, "ipv6_security": config.get("security")}}


@router.post("/{vm_id}/rollback", response_model=VmView, summary="New version with an old version's config")
def rollback(vm_id: str, body: Rollback, request: Request,
             service: VmSecurityService = Depends(get_service), who: Principal = Depends(principal)) -> VmView:
    try:
        return service.rollback(vm_id, body.version, actor=actor_of(request, who), tenant=who.tenant)
    except VmError as exc:
        raise _http(exc) from exc


@events_router.get("/events", response_model=EventPage, summary="Security events: vm, customer, time range, type")
def query_events(vm_id: str | None = None, customer_id: str | None = None, start: datetime | None = None,
                 end: datetime | None = None, event_type: str | None = None, severity: str | None = None,
                 min_severity: str | None = None, offset: int = Query(0, ge=0),
                 limit: int = Query(100, ge=1, le=1000), events: EventStore = Depends(get_events),
                 who: Principal = Depends(principal)) -> EventPage:
    try:
        return events.query(vm_id=vm_id, customer_id=customer_id, start=start, end=end, event_type=event_type,
                            severity=severity, min_severity=min_severity, offset=offset, limit=limit,
                            tenant=who.tenant)
    except EventQueryError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


@events_router.get("/events/{event_id}", summary="One security event")
def get_event(event_id: str, events: EventStore = Depends(get_events), who: Principal = Depends(principal)) -> dict[str, Any]:
    event = events.get(event_id, who.tenant)
    if event is None:
        raise HTTPException(status_code=404, detail=f"event {event_id!r} does not exist")
    return event.to_dict()


@events_router.post("/events", status_code=201,
                    summary="Take security events (a JSON list): stored, counted, audited, sent to the sinks")
def post_events(batch: list[dict[str, Any]], events: EventStore = Depends(get_events),
                sink: FanOut = Depends(get_event_sink), who: Principal = Depends(principal)) -> dict[str, int]:
    parsed = []
    for i, item in enumerate(batch):
        try:
            parsed.append(SecurityEvent.model_validate(item))
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=f"events[{i}]: {exc}") from exc
        if who.tenant is not None and parsed[-1].customer_id != who.tenant:
            raise HTTPException(status_code=403, detail=f"events[{i}].customer_id {parsed[-1].customer_id!r}: a "
                                f"caller of tenant {who.tenant!r} sends events of {who.tenant!r} only")
    for e in parsed:
        sink.emit(e)
    events.flush()  # queries see them now; network sinks deliver on their own schedule
    return {"stored": len(parsed)}


@router.get("/{vm_id}/nftables", summary="The VM's compiled nftables table (what its host loads with nft -f)")
def compiled_table(vm_id: str, service: VmSecurityService = Depends(get_service), who: Principal = Depends(principal)) -> Response:
    try:
        text = service.compiled_table(vm_id, who.tenant)
    except VmError as exc:
        raise _http(exc) from exc
    return Response(text, media_type="text/plain; charset=utf-8")


@events_router.get("/events/{event_id}/investigation", summary="The seed's investigation of one event")
def investigation(event_id: str, window_minutes: int = Query(60, ge=1, le=7 * 24 * 60),
                  service: VmSecurityService = Depends(get_service),
                  events: EventStore = Depends(get_events), who: Principal = Depends(principal)) -> dict[str, Any]:
    from datetime import timedelta

    from v6ops.policy.investigate import InvestigationNotFoundError, investigate

    try:
        return investigate(events, service, event_id, timedelta(minutes=window_minutes),
                           who.tenant).model_dump(mode="json")
    except InvestigationNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.post("/{vm_id}/counters", summary="Feed the metrics from the VM table's named counters (nft -j list counters)")
def post_counters(vm_id: str, dump: dict[str, Any], request: Request,
                  service: VmSecurityService = Depends(get_service), who: Principal = Depends(principal)) -> dict[str, Any]:
    from v6ops.policy.metrics import MetricsValueError

    try:
        customer = service.get(vm_id, who.tenant).customer_id
    except VmError as exc:
        raise _http(exc) from exc
    try:
        packets = request.app.state.security_metrics.observe_nft_counters(vm_id, customer, dump)
    except MetricsValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"vm_id": vm_id, "rules": packets}
