"""REST endpoints under /api/v1/ipam; each returns the same object as ``v6ops ipam ... --json``.

Every call is scoped to the caller's tenant (``Principal.tenant``): another tenant's subscriber,
device, pool or range answers 404 as a missing one does. Applying a plan needs an admin of the
whole installation.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from v6ops.api.auth import installation_admin, needs, principal
from v6ops.api.deps import get_store
from v6ops.auth.credentials import Principal, Role
from v6ops.ipam import service, subscriber_import
from v6ops.ipam.errors import IpamError
from v6ops.ipam.plan import parse_plan
from v6ops.ipam.provisioning import check as provisioning_check
from v6ops.ipam.provisioning import exports
from v6ops.ipam.provisioning import service as provisioning_service
from v6ops.ipam.provisioning.settings import load_provisioning_settings
from v6ops.ipam.subscribers import SubscriberSpec, SubscriberUpdate
from v6ops.store.db import Store

router = APIRouter(prefix="/ipam", tags=["ipam"])
T = TypeVar("T")
# Offsets past 2**31 would overflow the databases' integer parameters (a 500 schemathesis found).
MAX_OFFSET = 2**31 - 1
Offset = Query(0, ge=0, le=MAX_OFFSET)


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Turn IPAM errors into 4xx; a database constraint (the last line of defence) into 409."""
    try:
        return fn(*args, **kwargs)
    except IpamError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except IntegrityError as exc:
        raise HTTPException(409, f"conflicts with an existing record: {str(exc.orig).splitlines()[0]}") from exc


class AllocationRequest(BaseModel):
    """Either ``pool`` plus one of ``subscriber``/``device`` (dual-stack), or ``prefix`` (a reservation)."""

    model_config = ConfigDict(extra="forbid")
    pool: str | None = None
    subscriber: str | None = None
    device: str | None = None
    dns_name: str | None = None
    prefix: str | None = None
    vrf: str = "global"
    description: str = Field("", max_length=255)


class DeviceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    region: str
    dns_name: str | None = None
    last_seen: str | None = None
    pool: str | None = None
    vrf: str = "global"
    tenant: str | None = Field(None, min_length=1, max_length=64, description="default: the caller's tenant")


@router.get("/prefixes", summary="Every plan prefix with exact utilization")
def prefixes(who: Principal = Depends(principal), store: Store = Depends(get_store)) -> list[dict[str, Any]]:
    return run(service.list_prefixes, store, who.tenant)


@router.get("/prefixes/{name:path}/available-prefixes")
def available_prefixes(
    name: str, length: int | None = Query(None, ge=0, le=128), limit: int = Query(10, ge=1, le=1000),
    who: Principal = Depends(principal), store: Store = Depends(get_store),
) -> list[str]:
    return run(service.available_prefixes, store, name, length, limit, who.tenant)


class TakeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    length: int | None = Field(None, ge=0, le=128, description="default: the range's customer size")
    description: str = Field("", max_length=255)
    dns_name: str | None = None


@router.post("/prefixes/{name:path}/available-prefixes", status_code=201, summary="Allocate the first free prefix")
def take_prefix(name: str, body: TakeRequest, who: Principal = Depends(principal),
                store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.take_next, store, name, body.length, body.description, body.dns_name, tenant=who.tenant)


@router.post("/prefixes/{name:path}/available-ips", status_code=201, summary="Allocate the first free address")
def take_ip(name: str, body: TakeRequest, who: Principal = Depends(principal),
            store: Store = Depends(get_store)) -> dict[str, Any]:
    if body.length is not None:
        raise HTTPException(422, "available-ips allocates one address; use available-prefixes for a length")
    return run(service.take_next, store, name, None, body.description, body.dns_name, True, tenant=who.tenant)


@router.get("/prefixes/{name:path}/available-ips")
def available_ips(name: str, limit: int = Query(10, ge=1, le=1000), who: Principal = Depends(principal),
                  store: Store = Depends(get_store)) -> list[str]:
    return run(service.available_ips, store, name, limit, who.tenant)


@router.post("/plan", summary="Diff (dry_run) or apply a prefix plan given as JSON (admin of the installation)",
             openapi_extra=needs(Role.ADMIN), dependencies=[Depends(installation_admin)])
def plan(body: dict[str, Any], dry_run: bool = False, store: Store = Depends(get_store)) -> list[dict[str, str]]:
    parsed = run(parse_plan, body, "request body")
    return run(service.plan_diff if dry_run else service.plan_apply, store, parsed)


@router.get("/allocations")
def allocations(
    pool: str | None = None, limit: int = Query(100, ge=1, le=1000), offset: int = Offset,
    who: Principal = Depends(principal), store: Store = Depends(get_store),
) -> list[dict[str, Any]]:
    return run(service.list_allocations, store, pool, limit, offset, who.tenant)


@router.post("/allocations", status_code=201)
def allocate(body: AllocationRequest, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    if body.prefix is not None:
        return run(service.reserve, store, body.prefix, body.vrf, body.description, who.tenant)
    if body.pool is None or (body.subscriber is None) == (body.device is None):
        raise HTTPException(422, "give 'prefix' for a reservation, or 'pool' and one of 'subscriber' or 'device'")
    return run(service.provision, store, body.pool, body.subscriber, body.device, body.dns_name, who.tenant)


@router.delete("/allocations/{prefix:path}")
def release(prefix: str, vrf: str = "global", who: Principal = Depends(principal),
            store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.release, store, prefix, vrf, who.tenant)


@router.get("/subscribers")
def subscribers(
    limit: int = Query(100, ge=1, le=1000), offset: int = Offset,
    q: str | None = Query(None, max_length=128, description="part of the name or DNS name"),
    who: Principal = Depends(principal), store: Store = Depends(get_store),
) -> list[dict[str, Any]]:
    return run(service.list_subscribers, store, limit, offset, who.tenant, q)


@router.post("/subscribers", status_code=201, summary="Create a subscriber; with 'pool' also provision it")
def add_subscriber(body: SubscriberSpec, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.add_subscriber, store, body, who.tenant)


@router.post("/subscribers/import", summary="Bulk import: CSV (text/csv) or JSON Lines (application/x-ndjson) body",
             openapi_extra=needs(Role.ADMIN), dependencies=[Depends(installation_admin)])
async def import_subscribers(request: Request, format: Literal["csv", "jsonl"] | None = None,
                             store: Store = Depends(get_store)) -> dict[str, Any]:
    return await _bulk_import(request, format, subscriber_import.import_subscribers, store)


async def _bulk_import(request: Request, format: str | None, fn: Callable[..., dict[str, Any]], store: Store,
                       *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Stream the body to a file named for its format, import it; rejected rows are a 422 (nothing imported)."""
    kind = format or ("jsonl" if "json" in request.headers.get("content-type", "") else "csv")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"import.{kind}"
        with path.open("wb") as fh:
            async for chunk in request.stream():
                fh.write(chunk)
        report = await run_in_threadpool(run, fn, store, path, *args, **kwargs)
    if report["rejected"]:
        raise HTTPException(422, {"message": "import rejected: fix these rows; nothing was imported", **report})
    return report


@router.patch("/subscribers/{name}", summary="Change status, tier, tenant, DNS name, rate limits or identities")
def change_subscriber(name: str, body: SubscriberUpdate, who: Principal = Depends(principal),
                      store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.change_subscriber, store, name, body, who.tenant)


@router.delete("/subscribers/{name}", summary="Delete: allocations released; records leave RADIUS/Kea/DNS at the next sync")
def delete_subscriber(name: str, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.delete_subscriber, store, name, who.tenant)


@router.get("/subscribers/{name}")
def subscriber(name: str, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.get_subscriber, store, name, who.tenant)


@router.get("/devices")
def devices(
    region: str | None = None, limit: int = Query(100, ge=1, le=1000), offset: int = Offset,
    q: str | None = Query(None, max_length=128, description="part of the name or DNS name"),
    who: Principal = Depends(principal), store: Store = Depends(get_store),
) -> list[dict[str, Any]]:
    return run(service.list_devices, store, region, limit, offset, who.tenant, q)


@router.post("/devices", status_code=201)
def add_device(body: DeviceRequest, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    raw = body.model_dump(include={"name", "region", "dns_name", "last_seen"})
    return run(service.add_device, store, raw, body.pool, body.vrf, who.tenant, body.tenant)


@router.post("/devices/{name}/seen", summary="Heartbeat: the device was seen now (or at 'at', ISO 8601)")
def device_seen(name: str, at: str | None = None, who: Principal = Depends(principal),
                store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.device_seen, store, name, at, who.tenant)


@router.get("/devices/stats", summary="Devices per region, seen in the last 24 h, connectivity rate")
def device_stats(who: Principal = Depends(principal), store: Store = Depends(get_store)) -> list[dict[str, Any]]:
    return run(service.device_stats, store, who.tenant)


@router.post("/devices/import", summary="Bulk import: CSV (text/csv) or JSON Lines (application/x-ndjson) body")
async def import_devices(
    request: Request, pool: str, format: Literal["csv", "jsonl"] | None = None,
    who: Principal = Depends(principal), store: Store = Depends(get_store),
) -> dict[str, Any]:
    return await _bulk_import(request, format, service.import_devices, store, pool, tenant=who.tenant)


@router.get("/adoption", summary="Dual-stack adoption: dual-stack / IPv4-only / IPv6-only subscribers")
def adoption(who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(service.adoption_metrics, store, who.tenant)


@router.get("/events")
def events(limit: int = Query(100, ge=1, le=1000), who: Principal = Depends(principal),
           store: Store = Depends(get_store)) -> list[dict[str, Any]]:
    return run(service.list_events, store, limit, who.tenant)


# Exports, sync and the check span every tenant and carry RADIUS secrets: an admin of the installation only.
@router.get("/export/{target}", summary="The files of 'v6ops ipam export TARGET': radius, kea, dns, wireguard, notice",
            openapi_extra=needs(Role.ADMIN), dependencies=[Depends(installation_admin)])
def export(target: str, serial: int | None = Query(None, ge=0, le=2**32 - 1),
           store: Store = Depends(get_store)) -> list[dict[str, str]]:
    return run(lambda: exports.export(store, target, load_provisioning_settings(), serial))


@router.post("/sync/{target}", summary="'v6ops ipam sync TARGET': radius, kea or dns; dry_run only reports",
             openapi_extra=needs(Role.ADMIN), dependencies=[Depends(installation_admin)])
def sync(target: str, dry_run: bool = False, full: bool = False, store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(lambda: provisioning_service.sync(store, target, load_provisioning_settings(), dry_run, full))


@router.get("/check", summary="'v6ops ipam check': RADIUS, Kea and DNS audited against the IPAM",
            openapi_extra=needs(Role.ADMIN), dependencies=[Depends(installation_admin)])
def check(only: list[str] | None = Query(None), store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(lambda: provisioning_check.check(store, load_provisioning_settings(), only))
