"""The one way tests talk to the API: a client carrying a real token of the role (and tenant) asked for.

Authentication stays on in every test; the token is made in the test's own database.
"""

from __future__ import annotations

import subprocess
import time

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from v6ops.api.app import create_app
from v6ops.auth.credentials import Role, create_token
from v6ops.settings import Settings
from v6ops.store.db import open_store


def make_token(database_url: str, role: str = "admin", tenant: str | None = None, name: str = "test") -> str:
    secret, _ = create_token(open_store(database_url), name, Role.parse(role), tenant)
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_healthy(base: str, proc: subprocess.Popen[str] | subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until the server at ``base`` answers /health, or fail if it exits or takes longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the server at {base} did not answer /health within {seconds} s")


def api_client(app_or_settings: FastAPI | Settings, role: str = "admin", tenant: str | None = None) -> TestClient:
    """A TestClient for the app (or a new app of the settings) whose requests carry a fresh token."""
    app = app_or_settings if isinstance(app_or_settings, FastAPI) else create_app(app_or_settings)
    token = make_token(app.state.settings.resolved_database_url(), role, tenant)
    return TestClient(app, headers=bearer(token))
