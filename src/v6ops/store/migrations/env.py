"""Alembic environment: the engine comes from ``config.attributes`` (see v6ops.store.migrate)."""

from __future__ import annotations

from alembic import context

from v6ops.store.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
