"""Settings from ``V6OPS_*`` environment variables and an optional TOML file.

Precedence, highest first: explicit arguments, environment, the TOML file named
by ``V6OPS_CONFIG`` (or passed as ``config_file``), defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "v6ops"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="V6OPS_", extra="forbid")

    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir")
    data_dir: Path = Field(default_factory=default_data_dir)
    listen: list[str] = Field(default_factory=lambda: ["::", "0.0.0.0"])
    port: int = Field(default=8600, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    metrics_namespace: str = Field(
        default="metald_ipv6", pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="prefix of the IPv6 security metrics; the default keeps the seed's names and alert rules",
    )
    audit_log: Path | None = Field(default=None, description="audit log file; empty means data_dir/audit.jsonl")
    audit_key_file: Path | None = Field(default=None, description="AES-256-GCM key file for audit details "
                                        "(else $V6OPS_AUDIT_KEYS, else details in clear)")
    audit_signing_key: Path | None = Field(default=None, description="Ed25519 key that signs audit checkpoints")
    metrics_public: bool = Field(
        default=False, description="serve /metrics without a token (else scrape it with a viewer token)"
    )
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="how long a process trusts a checked token or session before asking the database again",
    )
    session_hours: int = Field(default=12, ge=1, le=720, description="lifetime of a browser session")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto", description="Secure cookie flag; auto: on HTTPS and on loopback addresses"
    )
    login_failures_allowed: int = Field(default=10, ge=1, description="failed sign-ins per client per 5 minutes")
    workers: int = Field(default=0, ge=0, le=256, description="server processes; 0: one per CPU core, at most 8")
    public_url: str = Field(default="", description="base URL printed in the first-run sign-in link")
    flow_ingest_max_age_hours: float = Field(
        default=24.0, gt=0, description="/health/ipv6 is degraded when the last flow report is older"
    )
    events_jsonl: Path | None = Field(default=None, description="also append every security event to this file")
    events_syslog: str | None = Field(default=None, description="udp://, tcp:// or tls://host:port for RFC 5424 + CEF")
    events_syslog_ca: Path | None = Field(default=None, description="CA bundle for tls:// syslog")
    events_siem_url: str | None = Field(default=None, description="HTTPS SIEM endpoint for security events")
    events_siem_token_file: Path | None = Field(default=None, description="bearer token file (else $SIEM_AUTH_TOKEN)")
    events_siem_ca: Path | None = Field(default=None, description="CA bundle for the SIEM's certificate")
    events_spool_dir: Path | None = Field(default=None, description="spool for undelivered events; "
                                          "empty means data_dir/spool")
    events_backlog_max_age_minutes: float = Field(
        default=60.0, ge=0, description="/health/ipv6 is unhealthy when an undelivered security event waited this "
                                        "long (any backlog at all makes it degraded; 0: any backlog is unhealthy)")

    def resolved_audit_log(self) -> Path:
        return self.audit_log or self.data_dir / "audit.jsonl"

    def resolved_events_spool_dir(self) -> Path:
        """Where the network event sinks spool what they could not deliver yet (one folder per sink)."""
        return self.events_spool_dir or self.data_dir / "spool"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'v6ops.db'}"


class SettingsError(ValueError):
    """A settings file or variable that cannot be used; the message names it."""


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any) under the environment, then apply overrides."""
    path = config_file or os.environ.get("V6OPS_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                file_values = tomllib.load(fh).get("v6ops", {})
        except FileNotFoundError as exc:
            raise SettingsError(f"config file {str(path)!r} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc
    env_keys = {k[len("V6OPS_"):].lower() for k in os.environ if k.startswith("V6OPS_")}
    values = {k: v for k, v in file_values.items() if k not in env_keys}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from exc
