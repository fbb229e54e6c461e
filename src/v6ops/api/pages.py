"""The dashboard: server-rendered pages over the same service calls as the API, scoped to the caller's tenant.

Each page links the JSON endpoint it shows. Forms post back here (with the session's CSRF token,
checked by ``AuthMiddleware``) and redirect, so reloading never repeats an action. Writing forms need
the operator role (the app-wide rule for POST); the policy check and flow reports only read.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from v6ops.api.auth import SESSION_COOKIE, cookies, csrf_token, needs, principal
from v6ops.api.deps import get_store
from v6ops.auth import credentials
from v6ops.auth.credentials import AuthError, Principal, Role
from v6ops.events import Severity
from v6ops.health import settings_health
from v6ops.ipam import service
from v6ops.ipam.engine import utcnow
from v6ops.ipam.errors import IpamError
from v6ops.ipam.subscribers import SubscriberSpec
from v6ops.policy.event_store import EventStore
from v6ops.settings import Settings
from v6ops.store.db import Store
from v6ops.web import templates

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_FORM_TEXT = 1 << 20
READS = needs(Role.VIEWER)


def render(request: Request, who: Principal, template: str, page: str, status: int = 200, **context: Any) -> Response:
    secret = cookies(request.scope).get(SESSION_COOKIE)
    response = templates.TemplateResponse(request, template, {
        "who": who, "page": page, "csrf": csrf_token(secret) if secret else "",
        "can_write": who.can(Role.OPERATOR), **context}, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


async def form_fields(request: Request) -> dict[str, str]:
    body = (await request.body())[:MAX_FORM_TEXT]
    return {k: v[0].strip() for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}


def back(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


def _overview(store: Store, tenant: str | None, settings: Settings) -> dict[str, Any]:
    """Reads only: the event store is read directly, so a sink that cannot start (a SIEM token file
    missing, say) never takes the landing page down with it."""
    prefixes = service.list_prefixes(store, tenant)
    events = EventStore(store)
    return {"adoption": service.adoption_metrics(store, tenant),
            "ranges": [p for p in prefixes if p["pool"] is not None],
            "events": service.list_events(store, 10, tenant),
            "security": {"counts": events.severity_counts(utcnow() - timedelta(hours=24), tenant),
                         "latest": events.query(min_severity=Severity.WARNING.value, limit=5, tenant=tenant).events},
            "health": settings_health(settings).as_dict()}


@router.get("/")
async def overview(request: Request, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    data = await run_in_threadpool(_overview, store, who.tenant, request.app.state.settings)
    return render(request, who, "overview.html", "/", **data)


def _tree(prefixes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prefixes in plan order with their depth (the list is sorted so a parent comes before its children)."""
    depth: dict[int, int] = {}
    for p in prefixes:
        depth[p["id"]] = depth.get(p["parent_id"], -1) + 1 if p["parent_id"] in depth else 0
        p["depth"] = depth[p["id"]]
    return prefixes


@router.get("/prefixes")
async def prefixes(request: Request, took: str | None = None, error: str | None = None,
                   who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    rows = _tree(await run_in_threadpool(service.list_prefixes, store, who.tenant))
    return render(request, who, "prefixes.html", "/prefixes", prefixes=rows, took=took, error=error)


@router.post("/prefixes/take")
async def take_next(request: Request, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    fields = await form_fields(request)
    name = fields.get("name", "")
    try:
        got = await run_in_threadpool(service.take_next, store, name, None, fields.get("description", "dashboard"),
                                      None, False, who.tenant)
    except IpamError as exc:
        return back(f"/prefixes?error={quote(str(exc))}")
    return back(f"/prefixes?took={quote(got['prefix'])}")


def _pools(store: Store, tenant: str | None) -> list[str]:
    return sorted({p["pool"] for p in service.list_prefixes(store, tenant) if p["pool"]})


@router.get("/subscribers")
async def subscribers(request: Request, q: str = "", offset: int = 0, created: str | None = None,
                      who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    offset = max(0, min(offset, 2**31 - 1))
    rows = await run_in_threadpool(service.list_subscribers, store, PAGE_SIZE, offset, who.tenant, q[:128] or None)
    pools = await run_in_threadpool(_pools, store, who.tenant)
    return render(request, who, "subscribers.html", "/subscribers", rows=rows, q=q, offset=offset,
                  page_size=PAGE_SIZE, pools=pools, created=created, error=None, form={})


@router.post("/subscribers")
async def provision_subscriber(request: Request, who: Principal = Depends(principal),
                               store: Store = Depends(get_store)) -> Response:
    fields = await form_fields(request)
    try:
        spec = SubscriberSpec.model_validate({
            "name": fields.get("name", ""), "pool": fields.get("pool") or None,
            "service_tier": fields.get("service_tier") or "residential", "dns_name": fields.get("dns_name") or None})
        made = await run_in_threadpool(service.add_subscriber, store, spec, who.tenant)
    except (ValidationError, IpamError) as exc:
        rows = await run_in_threadpool(service.list_subscribers, store, PAGE_SIZE, 0, who.tenant)
        pools = await run_in_threadpool(_pools, store, who.tenant)
        status = exc.status if isinstance(exc, IpamError) else 422
        return render(request, who, "subscribers.html", "/subscribers", status=status, rows=rows, q="", offset=0,
                      page_size=PAGE_SIZE, pools=pools, created=None, error=_problem(exc), form=fields)
    return back(f"/subscribers?q={quote(made['name'])}&created={quote(made['name'])}")


@router.get("/devices")
async def devices(request: Request, q: str = "", offset: int = 0, created: str | None = None,
                  who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    offset = max(0, min(offset, 2**31 - 1))
    rows = await run_in_threadpool(service.list_devices, store, None, PAGE_SIZE, offset, who.tenant, q[:128] or None)
    stats = await run_in_threadpool(service.device_stats, store, who.tenant)
    pools = await run_in_threadpool(_pools, store, who.tenant)
    return render(request, who, "devices.html", "/devices", rows=rows, stats=stats, q=q, offset=offset,
                  page_size=PAGE_SIZE, pools=pools, created=created, error=None, form={})


@router.post("/devices")
async def add_device(request: Request, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    fields = await form_fields(request)
    raw = {"name": fields.get("name", ""), "region": fields.get("region", ""), "dns_name": fields.get("dns_name") or None}
    try:
        made = await run_in_threadpool(service.add_device, store, raw, fields.get("pool") or None, "global", who.tenant)
    except IpamError as exc:
        rows = await run_in_threadpool(service.list_devices, store, None, PAGE_SIZE, 0, who.tenant)
        stats = await run_in_threadpool(service.device_stats, store, who.tenant)
        pools = await run_in_threadpool(_pools, store, who.tenant)
        return render(request, who, "devices.html", "/devices", status=exc.status, rows=rows, stats=stats, q="",
                      offset=0, page_size=PAGE_SIZE, pools=pools, created=None, error=str(exc), form=fields)
    return back(f"/devices?q={quote(made['name'])}&created={quote(made['name'])}")


def _policy_check(text: str) -> dict[str, Any]:
    """Validate a policy document and, when valid, compile it to nftables (the same engine as the CLI)."""
    from v6ops.policy.compile_nft import compile_ruleset
    from v6ops.policy.load import load_text
    from v6ops.policy.normalize import normalize_document
    from v6ops.policy.validate import report_for

    result = load_text(text, "dashboard", expand=False)
    report = report_for(result)
    out: dict[str, Any] = {"report": report.model_dump(mode="json"), "ruleset": None, "compile_error": None}
    if report.valid and result.document is not None:
        try:
            out["ruleset"] = compile_ruleset(normalize_document(result.document))
        except ValueError as exc:
            out["compile_error"] = str(exc)
    return out


def _profiles() -> dict[str, dict[str, Any]]:
    from v6ops.policy.profiles import all_profile_defaults

    return all_profile_defaults()


@router.get("/policy")
async def policy(request: Request, who: Principal = Depends(principal)) -> Response:
    return render(request, who, "policy.html", "/policy", profiles=_profiles(), text="", checked=None)


@router.post("/policy", openapi_extra=READS)
async def policy_check(request: Request, who: Principal = Depends(principal)) -> Response:
    text = (await form_fields(request)).get("document", "")
    checked = await run_in_threadpool(_policy_check, text) if text else None
    return render(request, who, "policy.html", "/policy", profiles=_profiles(), text=text, checked=checked)


@router.get("/flows")
async def flows(request: Request, who: Principal = Depends(principal)) -> Response:
    return render(request, who, "flows.html", "/flows", report=None, charts={}, sections=[], error=None)


def _flow_report(data: bytes, name: str) -> dict[str, Any]:
    from v6ops.flows.analyses import Options
    from v6ops.flows.charts import all_charts
    from v6ops.flows.pipeline import build_report
    from v6ops.flows.problems import FlowInputError
    from v6ops.flows.render import sections

    with tempfile.TemporaryDirectory(prefix="v6ops-flows-") as tmp:
        path = Path(tmp) / (Path(name).name or "upload.log")
        path.write_bytes(data)
        try:
            report = build_report([str(path)], Options())
        except FlowInputError as exc:
            return {"error": str(exc)}
    if report["inputs"]["records_read"] == 0:
        errors = [e["error"] for e in report["inputs"]["file_errors"]] or ["no records in the upload"]
        return {"error": "; ".join(errors)}
    return {"report": report, "charts": all_charts(report), "sections": sections(report), "error": None}


@router.post("/flows", openapi_extra=READS)
async def flow_report(request: Request, who: Principal = Depends(principal)) -> Response:
    """A flow or access log uploaded from the browser (multipart; CSRF token in the form's URL)."""
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("log")
    if upload is None or isinstance(upload, str):
        return render(request, who, "flows.html", "/flows", status=400, report=None, charts={}, sections=[],
                      error="choose a log file to upload")
    data = await upload.read()
    result = await run_in_threadpool(_flow_report, data, upload.filename or "upload.log")
    status = 422 if result.get("error") else 200
    return render(request, who, "flows.html", "/flows", status=status, report=result.get("report"),
                  charts=result.get("charts", {}), sections=result.get("sections", []), error=result.get("error"))


@router.get("/tokens", openapi_extra=needs(Role.ADMIN))
async def tokens(request: Request, error: str | None = None, who: Principal = Depends(principal),
                 store: Store = Depends(get_store)) -> Response:
    rows = await run_in_threadpool(credentials.list_tokens, store, who.tenant)
    return render(request, who, "tokens.html", "/tokens", rows=rows, made=None, error=error)


@router.post("/tokens", openapi_extra=needs(Role.ADMIN))
async def create_token(request: Request, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> Response:
    fields = await form_fields(request)
    try:
        lifetime = credentials.parse_duration(fields["expires"]) if fields.get("expires") else None
        secret, view = await run_in_threadpool(
            credentials.create_token, store, fields.get("name", ""), Role.parse(fields.get("role", "")),
            fields.get("tenant") or None, lifetime, who.tenant)
        made, error, status = {**view, "token": secret}, None, 201
    except AuthError as exc:
        made, error, status = None, str(exc), exc.status
    rows = await run_in_threadpool(credentials.list_tokens, store, who.tenant)
    return render(request, who, "tokens.html", "/tokens", status=status, rows=rows, made=made, error=error)


@router.post("/tokens/{token_id}/revoke", openapi_extra=needs(Role.ADMIN))
async def revoke_token(token_id: int, request: Request, who: Principal = Depends(principal),
                       store: Store = Depends(get_store)) -> Response:
    try:
        await run_in_threadpool(credentials.revoke_token, store, token_id, who.tenant)
    except AuthError as exc:
        return back(f"/tokens?error={quote(str(exc))}")
    request.app.state.principal_cache.clear()
    return back("/tokens")
