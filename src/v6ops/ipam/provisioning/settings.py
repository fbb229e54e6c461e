"""Where the access servers are: ``[provisioning]`` of the v6ops TOML file, or ``V6OPS_PROVISIONING_*``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from v6ops.ipam.errors import IpamError
from v6ops.ipam.provisioning.dns import DEFAULT_TTL, DnsLayout


class ProvisioningSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="V6OPS_PROVISIONING_", extra="forbid")

    radius_database_url: SecretStr = Field(SecretStr(""), description="FreeRADIUS rlm_sql PostgreSQL database")
    kea_database_url: SecretStr = Field(SecretStr(""), description="Kea hosts database (kea-admin db-init pgsql)")
    dns_server: str = Field("127.0.0.1:53", description="primary that takes RFC 2136 UPDATEs, host:port")
    tsig_key_name: str = ""
    tsig_secret: SecretStr = SecretStr("")
    tsig_algorithm: str = "hmac-sha256"
    dns_timeout_seconds: float = Field(5.0, gt=0)
    forward_zone: str = "isp.example"
    nameserver: str = ""
    nameserver_addresses: list[str] = Field(default_factory=list)
    hostmaster: str = ""
    dns_ttl: int = Field(DEFAULT_TTL, ge=0)
    reverse_zones: list[str] = Field(default_factory=list)
    wireguard_endpoint: str = ""
    wireguard_server_public_key: str = ""
    wireguard_listen_port: int = Field(51820, ge=1, le=65535)
    wireguard_mtu: int = Field(1420, ge=1280, le=65535, description="1420: safe for both families (seed)")
    notice_template: Path | None = None
    sync_after_change: list[Literal["radius", "kea", "dns"]] = Field(
        default_factory=list, description="targets synced right after each subscriber change; a failure is an "
                                          "event and the change stays queued for the next sync")

    def dns_layout(self) -> DnsLayout:
        zone = self.forward_zone.lower().removesuffix(".")
        return DnsLayout(forward_zone=zone, nameserver=(self.nameserver or f"ns1.{zone}").removesuffix("."),
                         nameserver_addresses=tuple(self.nameserver_addresses), hostmaster=self.hostmaster,
                         ttl=self.dns_ttl, reverse_zones=tuple(self.reverse_zones))


def load_provisioning_settings(**overrides: Any) -> ProvisioningSettings:
    path = os.environ.get("V6OPS_CONFIG")
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                values = tomllib.load(fh).get("provisioning", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise IpamError(f"config file {path!r}: {exc}") from exc
    env = {k[len("V6OPS_PROVISIONING_"):].lower() for k in os.environ if k.startswith("V6OPS_PROVISIONING_")}
    values = {k: v for k, v in values.items() if k not in env}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ProvisioningSettings(**values)
    except ValidationError as exc:
        raise IpamError("provisioning settings: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
