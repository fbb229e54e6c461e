"""``/api/v1/probes``: run dual-stack probes and read stored runs; the same object as ``v6ops probe --json``."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from v6ops.api.deps import get_store
from v6ops.probe.happy import parse_nat64_prefix
from v6ops.probe.history import ProbeRunNotFoundError, load_run, save_run, target_history
from v6ops.probe.resolve import parse_nameserver
from v6ops.probe.run import ProbeOptions, run_probes
from v6ops.store.db import Store

router = APIRouter(prefix="/probes", tags=["probes"])


class ProbeRequest(BaseModel):
    targets: list[str] = Field(min_length=1, max_length=1000, description="Host names, addresses, host:port or URLs")
    resolver: list[str] = Field(default_factory=list, description="Name servers (address or address:port; "
                                "IPv6 with a port in brackets); empty: the server's system resolver")
    port: int = Field(default=443, ge=1, le=65535, description="Port for targets without one")
    timeout: float = Field(default=3.0, gt=0, le=30)
    samples: int = Field(default=1, ge=1, le=10)
    tls: bool | None = None
    insecure: bool = False
    http: bool | None = None
    icmp: bool = True
    race: bool = True
    attempt_delay_ms: float = Field(default=250.0, ge=0, le=10_000, description="Clamped to [10, 2000] (RFC 8305 s.5)")
    resolution_delay_ms: float = Field(default=50.0, ge=0, le=2000)
    first_address_family_count: int = Field(default=1, ge=1, le=16)
    nat64_prefix: str | None = Field(default="discover", description="'discover' (RFC 7050), a prefix, or null")
    slower_ms: float = Field(default=50.0, ge=0)
    pmtu: bool = Field(default=False, description="Fetch the URL (> 1280 bytes) over each IPv6 address: pmtu ok / PMTU black hole")
    pmtu_timeout: float = Field(default=5.0, gt=0, le=60)
    concurrency: int = Field(default=64, ge=1, le=1024)

    def options(self) -> ProbeOptions:
        return ProbeOptions(
            nameservers=self.resolver, default_port=self.port, timeout=self.timeout, samples=self.samples, tls=self.tls,
            insecure=self.insecure, http=self.http, icmp=self.icmp, race=self.race,
            attempt_delay=self.attempt_delay_ms / 1000, resolution_delay=self.resolution_delay_ms / 1000,
            first_address_family_count=self.first_address_family_count, nat64_prefix=self.nat64_prefix,
            slower_ms=self.slower_ms, pmtu=self.pmtu, pmtu_timeout=self.pmtu_timeout)


@router.post("", status_code=201)
async def create_probe(body: ProbeRequest, store: Store = Depends(get_store)) -> dict[str, Any]:
    """Probe every target (a bad target is reported in its own result), store the run and return it."""
    try:
        for server in body.resolver:
            parse_nameserver(server)
        if body.nat64_prefix not in (None, "discover"):
            parse_nat64_prefix(body.nat64_prefix)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    run = await run_probes(body.targets, body.options(), concurrency=body.concurrency)
    await asyncio.to_thread(save_run, store, run)
    return run


class DomainRequest(BaseModel):
    domains: list[str] = Field(min_length=1, max_length=100)
    resolver: list[str] = Field(default_factory=list)
    scheme: Literal["http", "https"] = "https"
    timeout: float = Field(default=3.0, gt=0, le=30)
    insecure: bool = False


@router.post("/domains")
async def check_domains(body: DomainRequest) -> dict[str, Any]:
    """internet.nl-style checks per domain; the same object as ``v6ops probe-domain --json``."""
    from v6ops.probe.domain import DomainOptions
    from v6ops.probe.domain import check_domains as run_checks

    try:
        for server in body.resolver:
            parse_nameserver(server)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return await run_checks(body.domains, DomainOptions(body.resolver, body.scheme, body.timeout, body.insecure))


@router.get("/history")
async def history(target: str = Query(..., description="The target text as probed"),
                  limit: int = Query(100, ge=1, le=10_000), store: Store = Depends(get_store)) -> list[dict[str, Any]]:
    """The latest results for one target, oldest first."""
    return await asyncio.to_thread(target_history, store, target, limit)


@router.get("/{run_id}")
async def get_probe(run_id: str, store: Store = Depends(get_store)) -> dict[str, Any]:
    try:
        return await asyncio.to_thread(load_run, store, run_id)
    except ProbeRunNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
