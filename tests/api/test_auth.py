"""Authentication and roles: every route but the public ones needs a credential; tokens expire and revoke;
sessions need CSRF; sign-in links work once; secrets never reach the log."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import WebSocket
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from tests.api_client import api_client, bearer, make_token
from v6ops.api.app import create_app
from v6ops.api.auth import SESSION_COOKIE, csrf_token
from v6ops.auth import credentials
from v6ops.auth.credentials import Role
from v6ops.auth.models import Credential
from v6ops.cli.main import app as cli_app
from v6ops.settings import Settings
from v6ops.store.db import Store, open_store

PUBLIC = {"/health", "/health/ipv6"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, auth_cache_seconds=0)


@pytest.fixture
def store(settings: Settings) -> Store:
    return open_store(settings.resolved_database_url())


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def every_operation(app: Any) -> list[tuple[str, str]]:
    doc = TestClient(app, headers=bearer(make_token(app.state.settings.resolved_database_url()))).get("/openapi.json").json()
    return [(method.upper(), path) for path, ops in doc["paths"].items() for method in ops
            if method in {"get", "post", "put", "patch", "delete"}]


def test_every_route_but_the_public_ones_needs_a_credential(settings: Settings) -> None:
    app = create_app(settings)
    operations = every_operation(app)
    assert len(operations) > 25  # the walk sees the whole API, not an empty document
    anonymous = TestClient(app)
    for method, path in operations:
        status = anonymous.request(method, _concrete(path)).status_code
        if path in PUBLIC:
            assert status != 401, (method, path)
        else:
            assert status == 401, (method, path, status)
    # Routes outside the OpenAPI document too: the document itself, docs, pages, metrics.
    for path in ("/openapi.json", "/docs", "/redoc", "/", "/prefixes", "/subscribers", "/metrics", "/tokens",
                 "/vms", "/vms/x", "/events", "/events/x"):
        assert anonymous.get(path).status_code == 401, path
    assert anonymous.get("/", headers={"accept": "text/html"}, follow_redirects=False).headers["location"] == "/login?next=%2F"
    for path in ("/health", "/health/ipv6", "/login", "/static/v6ops.css"):
        assert anonymous.get(path).status_code in (200, 503), path


def test_a_route_added_later_is_protected_without_doing_anything(settings: Settings) -> None:
    from fastapi import APIRouter

    app = create_app(settings)
    late = APIRouter()

    @late.get("/late")
    def handler() -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(late, prefix="/api/v1")
    assert TestClient(app).get("/api/v1/late").status_code == 401
    assert api_client(app, "viewer").get("/api/v1/late").json() == {"ok": "yes"}


def test_openapi_documents_security_and_roles(settings: Settings) -> None:
    doc = api_client(settings).get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "session"}
    assert doc["paths"]["/health/ipv6"]["get"]["security"] == []
    assert doc["paths"]["/api/v1/ipam/prefixes"]["get"]["security"] == [{"bearer": []}, {"session": []}]
    assert doc["paths"]["/api/v1/ipam/plan"]["post"]["x-v6ops-role"] == "admin"


def test_bad_expired_and_revoked_tokens_get_401(settings: Settings, store: Store) -> None:
    app = create_app(settings)
    client = TestClient(app)
    secret, view = credentials.create_token(store, "short", Role.VIEWER, expires_in=timedelta(days=1))
    assert client.get("/api/v1/ipam/prefixes", headers=bearer(secret)).status_code == 200
    for bad in ("nope", secret + "x", "v6ops_" + "A" * 43):
        r = client.get("/api/v1/ipam/prefixes", headers=bearer(bad))
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/ipam/prefixes", headers={"Authorization": "Basic " + secret}).status_code == 401
    with store.write() as session:  # the clock moves past the expiry
        session.execute(update(Credential).where(Credential.id == view["id"])
                        .values(expires_at=credentials.utcnow() - timedelta(seconds=1)))
    assert client.get("/api/v1/ipam/prefixes", headers=bearer(secret)).status_code == 401
    other, other_view = credentials.create_token(store, "other", Role.VIEWER)
    assert client.get("/api/v1/ipam/prefixes", headers=bearer(other)).status_code == 200
    admin = api_client(app)
    assert admin.delete(f"/api/v1/auth/tokens/{other_view['id']}").json()["status"] == "revoked"
    assert client.get("/api/v1/ipam/prefixes", headers=bearer(other)).status_code == 401
    listed = {t["name"]: t for t in admin.get("/api/v1/auth/tokens").json()}
    assert listed["short"]["status"] == "expired" and listed["other"]["status"] == "revoked"
    assert listed["other"]["last_used_at"] is not None
    assert all("token" not in t and "secret_hash" not in t for t in listed.values())


def test_a_cached_token_is_dropped_at_once_when_revoked_in_the_same_process(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, auth_cache_seconds=300))
    secret = make_token(app.state.settings.resolved_database_url(), "viewer", name="cached")
    client = TestClient(app)
    assert client.get("/api/v1/auth/whoami", headers=bearer(secret)).status_code == 200
    admin = api_client(app)
    token_id = next(t["id"] for t in admin.get("/api/v1/auth/tokens").json() if t["name"] == "cached")
    admin.delete(f"/api/v1/auth/tokens/{token_id}")
    assert client.get("/api/v1/auth/whoami", headers=bearer(secret)).status_code == 401


@pytest.mark.parametrize(("role", "method", "path", "body", "status"), [
    ("viewer", "GET", "/api/v1/ipam/prefixes", None, 200),
    ("viewer", "POST", "/api/v1/ipam/subscribers", {"name": "v"}, 403),
    ("viewer", "POST", "/api/v1/policy/validate", {"document": "{}"}, 200),  # a read, though a POST
    ("operator", "POST", "/api/v1/ipam/subscribers", {"name": "o"}, 201),
    ("operator", "POST", "/api/v1/ipam/plan", {"vrfs": ["global"]}, 403),
    ("operator", "GET", "/api/v1/auth/tokens", None, 403),
    ("operator", "POST", "/api/v1/auth/tokens", {"name": "x", "role": "admin"}, 403),
    ("admin", "POST", "/api/v1/ipam/plan", {"vrfs": ["global"]}, 200),
    ("admin", "POST", "/api/v1/auth/users", {"name": "ann", "role": "viewer"}, 201),
])
def test_roles(settings: Settings, role: str, method: str, path: str, body: Any, status: int) -> None:
    r = api_client(settings, role).request(method, path, json=body)
    assert r.status_code == status, r.text
    if status == 403:
        assert "needs the" in r.json()["detail"] or "admin without a tenant" in r.json()["detail"]


def test_a_tenant_admin_manages_only_its_tenant_and_cannot_apply_plans(settings: Settings) -> None:
    app = create_app(settings)
    tenant_admin = api_client(app, "admin", tenant="acme")
    assert tenant_admin.post("/api/v1/ipam/plan", json={"vrfs": ["global"]}).status_code == 403
    made = tenant_admin.post("/api/v1/auth/tokens", json={"name": "bot", "role": "operator"}).json()
    assert made["tenant"] == "acme" and made["token"].startswith("v6ops_")
    r = tenant_admin.post("/api/v1/auth/tokens", json={"name": "bot2", "role": "operator", "tenant": "other"})
    assert r.status_code == 400 and "'other'" in r.json()["detail"]
    global_token = api_client(app).post("/api/v1/auth/tokens", json={"name": "g", "role": "viewer"}).json()
    assert {t["name"] for t in tenant_admin.get("/api/v1/auth/tokens").json()} == {"bot", "test"}
    assert tenant_admin.delete(f"/api/v1/auth/tokens/{global_token['id']}").status_code == 404


def test_sign_in_link_works_once_and_the_session_needs_csrf(settings: Settings, store: Store) -> None:
    first = credentials.ensure_first_admin(store)
    assert first is not None and credentials.ensure_first_admin(store) is None  # only on an empty database
    client = TestClient(create_app(settings), base_url="http://127.0.0.1")
    r = client.get(f"/login?token={first}&next=/subscribers", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/subscribers"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie  # Secure on loopback
    session = client.cookies.get(SESSION_COOKIE)
    assert session
    # httpx keeps Secure cookies for https; browsers also send them to loopback (as the Playwright test shows).
    client = TestClient(client.app, base_url="http://127.0.0.1", cookies={SESSION_COOKIE: session})
    assert client.get("/api/v1/auth/whoami").json() == {"name": "admin", "role": "admin", "tenant": None, "kind": "session"}
    # The link is spent: a second use (say, from the terminal's scroll-back) signs nobody in.
    again = TestClient(create_app(settings)).get(f"/login?token={first}", follow_redirects=False)
    assert again.status_code == 401 and SESSION_COOKIE not in again.cookies
    # Unsafe methods need the CSRF token, as a header or form field; a foreign Origin is refused.
    body = {"name": "s1"}
    assert client.post("/api/v1/ipam/subscribers", json=body).status_code == 403
    assert client.post("/api/v1/ipam/subscribers", json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    token = csrf_token(session)
    r = client.post("/api/v1/ipam/subscribers", json=body, headers={"X-CSRF-Token": token, "Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    assert client.post("/api/v1/ipam/subscribers", json=body, headers={"X-CSRF-Token": token}).status_code == 201
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/auth/whoami", cookies={SESSION_COOKIE: session}).status_code == 401


def test_password_sign_in_is_rate_limited(tmp_path: Path, store: Store) -> None:
    settings = Settings(data_dir=tmp_path, login_failures_allowed=3)
    credentials.create_user(open_store(settings.resolved_database_url()), "ops", Role.OPERATOR, password="correct horse")
    client = TestClient(create_app(settings))
    for _ in range(3):
        assert client.post("/login", data={"username": "ops", "password": "wrong"}).status_code == 401
    r = client.post("/login", data={"username": "ops", "password": "correct horse"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    fresh = TestClient(create_app(settings))  # another process: its own window
    r = fresh.post("/login", data={"username": "ops", "password": "correct horse"}, follow_redirects=False)
    assert r.status_code == 303 and fresh.get("/api/v1/auth/whoami").json()["role"] == "operator"
    r = fresh.post("/login", data={"username": "ops", "password": "x", "next": "https://evil.example/"},
                   follow_redirects=False)
    assert r.status_code == 401


def test_open_redirects_are_refused(settings: Settings, store: Store) -> None:
    credentials.create_user(store, "ops", Role.OPERATOR, password="correct horse")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        r = TestClient(create_app(settings)).post("/login", data={"username": "ops", "password": "correct horse",
                                                                  "next": target}, follow_redirects=False)
        assert r.headers["location"] == "/", target


def test_secrets_never_reach_the_log(settings: Settings, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(settings)
    secret = make_token(settings.resolved_database_url())
    client = TestClient(app)
    client.get("/api/v1/ipam/prefixes", headers=bearer(secret))
    client.get("/api/v1/ipam/prefixes", headers=bearer(secret + "bad"))
    link = credentials.create_sign_in_link(store, credentials.create_user(store, "u", Role.VIEWER)["name"])
    client.get(f"/login?token={link}")
    client.get(f"/api/v1/ipam/prefixes?token={secret}")
    ours = [r for r in caplog.records if r.name.startswith("v6ops")]  # not the test's own HTTP client
    everything = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in ours)
    assert "request" in everything  # the access log did run
    assert secret not in everything and link not in everything
    bodies = [client.get("/api/v1/ipam/prefixes", headers=bearer(secret + "bad")).text]
    assert all(secret not in b for b in bodies)


def test_tokens_are_stored_hashed(settings: Settings, store: Store) -> None:
    secret = make_token(settings.resolved_database_url())
    with store.read() as session:
        rows = [(r.secret_hash, r.name) for r in session.query(Credential)]
    assert rows and all(secret not in h for h, _ in rows)
    assert credentials.secret_hash(secret) in {h for h, _ in rows}


def test_cli_token_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V6OPS_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    made = runner.invoke(cli_app, ["token", "create", "bot", "--role", "operator", "--tenant", "acme", "--expires", "30d"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("v6ops_") and "only time" in made.stderr
    listed = json.loads(runner.invoke(cli_app, ["token", "list", "--json"]).stdout)
    assert [(t["name"], t["role"], t["tenant"], t["status"]) for t in listed] == [("bot", "operator", "acme", "active")]
    assert listed[0]["expires_at"] is not None and secret not in json.dumps(listed)
    client = TestClient(create_app(Settings(data_dir=tmp_path, auth_cache_seconds=0)))
    assert client.get("/api/v1/auth/whoami", headers=bearer(secret)).json()["tenant"] == "acme"
    revoked = runner.invoke(cli_app, ["token", "revoke", str(listed[0]["id"]), "--json"])
    assert json.loads(revoked.stdout)[0]["status"] == "revoked"
    assert client.get("/api/v1/auth/whoami", headers=bearer(secret)).status_code == 401
    bad = runner.invoke(cli_app, ["token", "create", "x", "--role", "root"])
    assert bad.exit_code == 2 and "role 'root'" in bad.stderr
    bad = runner.invoke(cli_app, ["token", "create", "x", "--role", "viewer", "--expires", "soon"])
    assert bad.exit_code == 2 and "duration 'soon'" in bad.stderr
    link = runner.invoke(cli_app, ["user", "add", "ann", "--role", "viewer", "--json"])
    assert link.exit_code == 0
    url = json.loads(runner.invoke(cli_app, ["user", "sign-in-link", "ann", "--json"]).stdout)["url"]
    assert re.fullmatch(r"http://\[::1\]:8600/login\?token=v6ops_[\w-]{43}", url)


def test_a_websocket_added_later_needs_a_credential_too(settings: Settings) -> None:
    app = create_app(settings)

    @app.websocket("/api/v1/stream")
    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")
        await ws.close()

    with pytest.raises(WebSocketDisconnect) as refused, TestClient(app).websocket_connect("/api/v1/stream"):
        pass
    assert refused.value.code == 1008
    token = make_token(settings.resolved_database_url(), "viewer")
    with TestClient(app).websocket_connect("/api/v1/stream", headers=bearer(token)) as ws:
        assert ws.receive_text() == "hello"


def test_cli_user_with_password_signs_in_and_a_new_password_ends_its_sessions(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V6OPS_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    made = runner.invoke(cli_app, ["user", "add", "ops", "--role", "operator", "--tenant", "acme", "--password-stdin",
                                   "--json"], input="first password\n")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)[0]["has_password"] is True
    short = runner.invoke(cli_app, ["user", "add", "x", "--role", "viewer", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "at least 10 characters" in short.stderr
    app = create_app(Settings(data_dir=tmp_path, auth_cache_seconds=0))
    client = TestClient(app)
    r = client.post("/login", data={"username": "ops", "password": "first password"}, follow_redirects=False)
    session = client.cookies.get(SESSION_COOKIE) or r.cookies.get(SESSION_COOKIE)
    assert r.status_code == 303 and session
    browser = TestClient(app, cookies={SESSION_COOKIE: session})
    assert browser.get("/api/v1/auth/whoami").json() == {"name": "ops", "role": "operator", "tenant": "acme",
                                                          "kind": "session"}
    changed = runner.invoke(cli_app, ["user", "passwd", "ops", "--password-stdin"], input="second password\n")
    assert changed.exit_code == 0, changed.output
    assert browser.get("/api/v1/auth/whoami").status_code == 401
    assert TestClient(app).post("/login", data={"username": "ops", "password": "first password"}).status_code == 401
