"""``/api/v1/auth``: who am I, and API tokens and users (the same objects as ``v6ops token|user ... --json``).

Admins manage tokens and users; a tenant-scoped admin manages only its own tenant's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from v6ops.api.auth import needs, principal
from v6ops.api.deps import get_store
from v6ops.auth import credentials
from v6ops.auth.credentials import AuthError, Principal, Role
from v6ops.store.db import Store

router = APIRouter(prefix="/auth", tags=["auth"])
ADMIN = needs(Role.ADMIN)
T = TypeVar("T")


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except AuthError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "operator", "viewer"]
    tenant: str | None = Field(None, min_length=1, max_length=64)
    expires: str | None = Field(None, description="lifetime such as '30d', '12h', '2w'; none: never expires")


class UserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "operator", "viewer"]
    tenant: str | None = Field(None, min_length=1, max_length=64)
    password: str | None = Field(None, min_length=10, max_length=1024)


@router.get("/whoami", summary="The caller: name, role, tenant and credential kind")
def whoami(who: Principal = Depends(principal)) -> dict[str, Any]:
    return {"name": who.name, "role": who.role.label, "tenant": who.tenant, "kind": who.kind}


@router.get("/tokens", openapi_extra=ADMIN, summary="API tokens (never their secrets), with last use")
def tokens(who: Principal = Depends(principal), store: Store = Depends(get_store)) -> list[dict[str, Any]]:
    return run(credentials.list_tokens, store, who.tenant)


@router.post("/tokens", status_code=201, openapi_extra=ADMIN, summary="Create a token; its secret is in this answer only")
def create_token(body: TokenRequest, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    expires = run(credentials.parse_duration, body.expires) if body.expires else None
    secret, view = run(credentials.create_token, store, body.name, Role.parse(body.role), body.tenant, expires,
                       scope=who.tenant)
    return {**view, "token": secret}


def _forget_cached(request: Request) -> None:
    """A revocation takes effect in this process at once (other workers: within auth_cache_seconds)."""
    request.app.state.principal_cache.clear()


@router.delete("/tokens/{token_id}", openapi_extra=ADMIN, summary="Revoke a token")
async def revoke_token(token_id: int, request: Request, who: Principal = Depends(principal),
                       store: Store = Depends(get_store)) -> dict[str, Any]:
    view = await run_in_threadpool(run, credentials.revoke_token, store, token_id, who.tenant)
    _forget_cached(request)
    return view


@router.get("/users", openapi_extra=ADMIN, summary="Users who sign in to the dashboard")
def users(who: Principal = Depends(principal), store: Store = Depends(get_store)) -> list[dict[str, Any]]:
    return run(credentials.list_users, store, who.tenant)


@router.post("/users", status_code=201, openapi_extra=ADMIN, summary="Create a user (password optional)")
def create_user(body: UserRequest, who: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict[str, Any]:
    return run(credentials.create_user, store, body.name, Role.parse(body.role), body.tenant, body.password,
               scope=who.tenant)
