"""Databases and configs for the VM security API tests (the IPAM tests' fresh databases, VM tables emptied)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ipam.fixtures import fresh_database_url

TABLES = ("security_events", "security_vm_versions", "security_vms")


def web_config(**security: Any) -> dict[str, Any]:
    """A valid VM-side ipv6_config (the seed's web server example, trimmed)."""
    sec: dict[str, Any] = {
        "profile": "SECURITY_PROFILE_HIGH",
        "ra_guard": {"enabled": True, "block_all_ra": False, "allowed_routers": ["fe80::1"], "max_ra_rate": 10},
        "source_validation": {"strict_ingress": True, "allowed_ingress_prefixes": ["2001:db8:1::/64"],
                              "block_private_addresses": True},
        "monitoring": {"enable_security_logging": True, "enable_metrics": True,
                       "siem_config": {"enabled": True, "endpoint": "https://siem.example/api/logs",
                                       "auth_token": "tok-SECRET-1", "log_format": "CEF"}},
    }
    sec.update(security)
    return {"enabled": True, "addresses": ["2001:db8:1::10/64"], "security": sec,
            "interface": {"name": "eth0", "mtu": 1500, "vlan": {"vlan_id": 100, "priority": 3, "name": "cust"}}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.requires("postgres"))])
def vm_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request, tmp_path, TABLES, "vms.db")
