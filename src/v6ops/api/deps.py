"""Request dependencies shared by routers: the database store for the app's settings."""

from __future__ import annotations

from fastapi import Request

from v6ops.store.db import Store, open_store


async def get_store(request: Request) -> Store:
    """The migrated store for ``V6OPS_DATABASE_URL`` (SQLite in the data dir by default).

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in the threadpool, a thread hop
    per request for a cache lookup (the IPAM router's start-up hook opened and migrated the store).
    """
    return open_store(request.app.state.settings.resolved_database_url())
