"""A security-event setting that cannot be used is a clear error naming the setting and the file:
`v6ops serve` refuses to start, and one that breaks after the start answers 503 (JSON), never 500,
and never shows the secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_client import api_client
from tests.events.servers import self_signed
from v6ops.api.app import create_app
from v6ops.settings import Settings
from v6ops.store.db import open_store

SECRET = "tok-do-not-show-7f3a"


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`v6ops serve` with the given V6OPS_* variables; it must exit before listening."""
    full = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_LISTEN": '["127.0.0.1"]', "V6OPS_PORT": "9",
            "V6OPS_WORKERS": "1", **{f"V6OPS_{k.upper()}": v for k, v in env.items()}}
    return subprocess.run([sys.executable, "-m", "v6ops.cli", "serve"], env=full, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("events_siem_token_file", "missing-token", "cannot be read: No such file or directory"),
    ("events_siem_token_file", "empty-token", "is empty"),
    ("events_siem_ca", "missing-ca.pem", "cannot be read: No such file or directory"),
    ("events_siem_ca", "not-a-ca.pem", "not a usable certificate bundle"),
    ("events_siem_url", "ftp://siem.example/x", "is not an http(s) URL"),
    ("events_syslog", "smtp://127.0.0.1:514", "is not udp://, tcp:// or tls://"),
    ("events_syslog_ca", "missing-ca.pem", "cannot be read: No such file or directory"),
    ("events_jsonl", "no-such-folder/events.jsonl", "does not exist"),
])
def test_serve_refuses_to_start_with_a_bad_event_setting(tmp_path, setting, value, says):
    (tmp_path / "token").write_text(SECRET + "\n")
    (tmp_path / "empty-token").write_text("\n")
    (tmp_path / "not-a-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    env = {"events_siem_url": "https://127.0.0.1:9/events", "events_siem_token_file": str(tmp_path / "token")}
    if setting == "events_syslog_ca":
        env["events_syslog"] = "tls://127.0.0.1:6514"
    env[setting] = value if "://" in value else str(tmp_path / value)
    done = serve(tmp_path, **env)
    assert done.returncode != 0
    assert f"setting {setting} (V6OPS_{setting.upper()})" in done.stderr and says in done.stderr, done.stderr
    if "://" not in value:
        assert str(tmp_path / value) in done.stderr  # the file is named
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout
    assert "listening" not in done.stderr and "first start" not in done.stdout  # it stopped before anything else


@pytest.fixture
def broken_later(tmp_path):
    """An app whose SIEM settings were good at start (checked as `v6ops serve` does) and whose token file
    then goes away before the sinks open on first use."""
    from v6ops.policy.event_pipeline import resolve_event_settings

    cert, _ = self_signed(tmp_path)
    token = tmp_path / "token"
    token.write_text(SECRET + "\n")
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        events_siem_url="https://127.0.0.1:9/events", events_siem_token_file=token,
                        events_siem_ca=cert)
    resolve_event_settings(settings)  # fine at start
    token.unlink()
    yield create_app(settings), token
    open_store.cache_clear()


def test_a_token_file_gone_after_the_start_is_503_naming_it_then_recovers(broken_later):
    app, token = broken_later
    with api_client(app, "operator") as client:
        for method, path in [("GET", "/api/v1/vms"), ("GET", "/api/v1/vms/vm-1"), ("GET", "/api/v1/security/events"),
                             ("POST", "/api/v1/security/events"), ("GET", "/vms"), ("GET", "/events"),
                             ("GET", "/events/e1")]:
            r = client.request(method, path, json=[] if method == "POST" else None)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["content-type"] == "application/json"
            detail = r.json()["detail"]
            assert detail["setting"] == "events_siem_token_file", path
            assert str(token) in detail["problem"] and "No such file or directory" in detail["problem"]
            assert SECRET not in r.text
        # fixed: the next request opens the sinks and works
        token.write_text(SECRET + "\n")
        assert client.get("/api/v1/vms").status_code == 200
        assert client.get("/vms").status_code == 200
