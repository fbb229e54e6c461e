"""Where the access servers are: ``[provisioning]`` of the v6ops TOML file, or ``V6OPS_PROVISIONING_*``."""

from __future__ import annotations

import functools
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
    """The settings from ``V6OPS_CONFIG``'s ``[provisioning]`` table and ``V6OPS_PROVISIONING_*`` (which win).

    Every subscriber change asks for them (``sync_after_change``), and building a pydantic-settings
    model costs about as much CPU as the change's SQL; so the result is kept until the file (path,
    size, mtime) or the variables change.
    """
    path = os.environ.get("V6OPS_CONFIG")
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("V6OPS_PROVISIONING_")))
    stamp: tuple[int, int] | None = None
    if path:
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise IpamError(f"config file {path!r}: {exc}") from exc
        stamp = (stat.st_size, stat.st_mtime_ns)
    if overrides := {k: v for k, v in overrides.items() if v is not None}:
        return _validated({**_file_values(path, env), **overrides})
    return _load(path, stamp, env)


@functools.lru_cache(maxsize=8)
def _load(path: str | None, _stamp: tuple[int, int] | None, env: tuple[tuple[str, str], ...]) -> ProvisioningSettings:
    return _validated(_file_values(path, env))


def _file_values(path: str | None, env: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The file's values for the fields no ``V6OPS_PROVISIONING_*`` variable sets."""
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                values = tomllib.load(fh).get("provisioning", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise IpamError(f"config file {path!r}: {exc}") from exc
    set_by_env = {k[len("V6OPS_PROVISIONING_"):].lower() for k, _ in env}
    return {k: v for k, v in values.items() if k not in set_by_env}


def _validated(values: dict[str, Any]) -> ProvisioningSettings:
    try:
        return ProvisioningSettings(**values)
    except ValidationError as exc:
        raise IpamError("provisioning settings: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
