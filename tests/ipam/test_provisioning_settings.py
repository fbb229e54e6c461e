"""``load_provisioning_settings`` is asked on every subscriber change, so it keeps its result; it must
still follow every change of the file and of the ``V6OPS_PROVISIONING_*`` variables at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning.settings import load_provisioning_settings


def write(path: Path, body: str, mtime_ns: int) -> None:
    path.write_text(body)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_file_and_variable_changes_are_seen_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("V6OPS_PROVISIONING_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "v6ops.toml"
    write(config, '[provisioning]\nforward_zone = "a.example"\n', 1_000_000_000)
    monkeypatch.setenv("V6OPS_CONFIG", str(config))
    assert load_provisioning_settings().forward_zone == "a.example"
    # Same size, same second: only the nanoseconds of the mtime differ.
    write(config, '[provisioning]\nforward_zone = "b.example"\n', 1_000_000_001)
    assert load_provisioning_settings().forward_zone == "b.example"
    monkeypatch.setenv("V6OPS_PROVISIONING_FORWARD_ZONE", "env.example")
    assert load_provisioning_settings().forward_zone == "env.example"
    assert load_provisioning_settings(forward_zone="arg.example").forward_zone == "arg.example"
    monkeypatch.delenv("V6OPS_PROVISIONING_FORWARD_ZONE")
    assert load_provisioning_settings().forward_zone == "b.example"
    assert load_provisioning_settings() is load_provisioning_settings()  # built once while nothing changes


def test_a_broken_or_missing_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "v6ops.toml"
    write(config, "[provisioning\n", 2_000_000_000)
    monkeypatch.setenv("V6OPS_CONFIG", str(config))
    with pytest.raises(IpamError, match=f"config file '{config}'"):
        load_provisioning_settings()
    monkeypatch.setenv("V6OPS_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(IpamError, match=r"absent\.toml"):
        load_provisioning_settings()
    write(config, '[provisioning]\ndns_ttl = -1\n', 2_000_000_001)
    monkeypatch.setenv("V6OPS_CONFIG", str(config))
    with pytest.raises(IpamError, match="dns_ttl"):
        load_provisioning_settings()
