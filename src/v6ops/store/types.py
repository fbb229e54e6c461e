"""Column types that keep prefixes exact and sortable on both databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from v6ops.addr import Prefix


class Cidr(TypeDecorator[str]):
    """Native ``cidr`` on PostgreSQL (so GiST exclusion constraints work), text elsewhere."""

    impl = String(49)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.CIDR())
        return dialect.type_descriptor(String(49))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        # psycopg returns ipaddress objects for cidr; normalise to our canonical text.
        return None if value is None else str(Prefix.parse(str(value)))


def network_key(version: int, network: int) -> bytes:
    """Big-endian bytes: byte order equals numeric order, so an index on it sorts 128-bit networks."""
    return network.to_bytes(4 if version == 4 else 16, "big")


def network_from_key(key: bytes) -> int:
    return int.from_bytes(key, "big")


def db_time(value: datetime | None, sqlite: bool) -> datetime | str | None:
    """A naive UTC time for a DB-API parameter: SQLite gets the text SQLAlchemy's DateTime writes
    (always with microseconds, so text order is time order), PostgreSQL the datetime itself."""
    if value is None or not sqlite:
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


class BigCount(TypeDecorator[int]):
    """An exact non-negative integer of up to 128 bits (a /64 holds 2**64 /128s), as decimal text."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)
