"""Request dependencies shared by routers: the database store for the app's settings."""

from __future__ import annotations

from fastapi import Request

from v6ops.ipam.service import open_store
from v6ops.store.db import Store


def get_store(request: Request) -> Store:
    """The migrated store for ``V6OPS_DATABASE_URL`` (SQLite in the data dir by default)."""
    return open_store(request.app.state.settings.resolved_database_url())
