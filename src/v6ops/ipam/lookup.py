"""Fetch a named row or raise NotFoundError: the one lookup every IPAM verb starts with."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from v6ops.ipam.errors import NotFoundError
from v6ops.store.models import Device, PlanPrefix, Subscriber, Vrf

Named = TypeVar("Named", Device, PlanPrefix, Subscriber, Vrf)


def by_name(session: Session, model: type[Named], name: str, what: str, hint: str = "") -> Named:
    row = session.scalar(select(model).where(model.name == name))
    if row is None:
        raise NotFoundError(f"unknown {what} {name!r}{hint}")
    return row
