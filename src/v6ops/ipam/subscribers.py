"""Subscribers: who gets a dual-stack service, on which tier, with which per-family rate limits."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Table
from sqlalchemy.orm import Session

from v6ops.ipam.dnsname import check_dns_name
from v6ops.ipam.engine import utcnow
from v6ops.ipam.errors import ConflictError
from v6ops.ipam.identities import Identities
from v6ops.ipam.lookup import by_name
from v6ops.store.db import run_driver
from v6ops.store.models import Subscriber
from v6ops.store.types import db_time

_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:bps|bit/s)?$")
_SI = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
MAX_RATE = 10**15  # a petabit per second; the columns are 64-bit
_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
_COLUMNS = ("name", "tenant", "service_tier", "status", "dns_name", "ipv4_download_bps", "ipv4_upload_bps",
            "ipv6_download_bps", "ipv6_upload_bps", "created_at")
_INSERT = (f"INSERT INTO {_SUBSCRIBERS.name} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
           "RETURNING id")


def parse_rate(value: int | str) -> int:
    """Bits per second from ``100M``, ``1.5G``, ``500k`` (SI, as the seed writes them) or an integer."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        # Anything else (an object, a list, true) is a 422 naming it, not an AttributeError (a 500 schemathesis found).
        raise ValueError(f"rate {value!r} is not a number of bits per second or a text such as '100M'")
    if isinstance(value, int):
        if not 0 <= value <= MAX_RATE:
            raise ValueError(f"rate {value} must be between 0 and {MAX_RATE} bit/s")
        return value
    match = _RATE.match(value.strip())
    if not match:
        raise ValueError(f"rate {value!r} is not a number with an optional k/M/G/T suffix, e.g. '100M'")
    rate = int(float(match.group(1)) * _SI[match.group(2).lower()])
    if rate > MAX_RATE:
        raise ValueError(f"rate {value!r} is more than {MAX_RATE} bit/s")
    return rate


class DirectionRates(BaseModel):
    model_config = ConfigDict(extra="forbid")
    download: int | None = None
    upload: int | None = None

    _rates = field_validator("download", "upload", mode="before")(
        lambda v: None if v is None else parse_rate(v)
    )


class RateLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ipv4: DirectionRates = Field(default_factory=DirectionRates)
    ipv6: DirectionRates = Field(default_factory=DirectionRates)


class SubscriberSpec(BaseModel):
    """A new subscriber; with ``pool`` it is provisioned in the same transaction."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    tenant: str = Field("default", min_length=1, max_length=64)
    service_tier: str = Field("residential", min_length=1, max_length=32)
    status: Literal["active", "suspended", "terminated"] = "active"
    dns_name: str | None = None
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    identities: Identities = Field(default_factory=Identities)
    pool: str | None = None

    _dns = field_validator("dns_name")(lambda v: None if v is None else check_dns_name(v))


def create_subscriber(session: Session, spec: SubscriberSpec) -> Subscriber:
    """Insert the subscriber (one statement on the driver's cursor, RETURNING its id; the returned object
    is not tracked by the session); the unique name constraint, not a prior read, detects a duplicate."""
    r = spec.rate_limits
    now = utcnow()
    values = {
        "name": spec.name, "tenant": spec.tenant, "service_tier": spec.service_tier, "status": spec.status,
        "dns_name": spec.dns_name, "ipv4_download_bps": r.ipv4.download, "ipv4_upload_bps": r.ipv4.upload,
        "ipv6_download_bps": r.ipv6.download, "ipv6_upload_bps": r.ipv6.upload, "created_at": now,
    }
    dialect = session.get_bind().dialect
    params = [values[c] for c in _COLUMNS[:-1]] + [db_time(now, dialect.name == "sqlite")]
    try:
        new_id = run_driver(session, _INSERT, params).fetchone()[0]
    except dialect.loaded_dbapi.IntegrityError as exc:
        raise ConflictError(f"subscriber {spec.name!r} already exists") from exc
    return Subscriber(id=new_id, pool_id=None, **values)


def subscriber_by_name(session: Session, name: str) -> Subscriber:
    return by_name(session, Subscriber, name, "subscriber")


class SubscriberUpdate(BaseModel):
    """Fields to change; ``None`` keeps the current value."""

    model_config = ConfigDict(extra="forbid")
    tenant: str | None = Field(None, min_length=1, max_length=64)
    service_tier: str | None = Field(None, min_length=1, max_length=32)
    status: Literal["active", "suspended", "terminated"] | None = None
    dns_name: str | None = Field(None, description="rename: the A, AAAA and PTR records move with it")
    rate_limits: RateLimits | None = None
    identities: Identities | None = None

    _dns = field_validator("dns_name")(lambda v: None if v is None else check_dns_name(v))


def update_subscriber(subscriber: Subscriber, change: SubscriberUpdate) -> None:
    for field in ("tenant", "service_tier", "status", "dns_name"):
        value = getattr(change, field)
        if value is not None:
            setattr(subscriber, field, value)
    if change.rate_limits is not None:
        for family in ("ipv4", "ipv6"):
            rates = getattr(change.rate_limits, family)
            for direction in ("download", "upload"):
                if getattr(rates, direction) is not None:
                    setattr(subscriber, f"{family}_{direction}_bps", getattr(rates, direction))
