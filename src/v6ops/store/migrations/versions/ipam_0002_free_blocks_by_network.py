"""ipam: free blocks by address, for first fit in one index seek

Revision ID: ipam_0002
Revises: 0001

On PostgreSQL the index is built CONCURRENTLY, outside the migration's transaction: a plain CREATE
INDEX holds a SHARE lock on ``free_blocks`` for the whole build, so on a large database every
allocation would wait for it. A concurrent build that was interrupted leaves an INVALID index of
the same name behind (PostgreSQL docs, CREATE INDEX, "Building Indexes Concurrently"); it is
dropped first so the migration can simply be run again.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = 'ipam_0002'
down_revision = '0001'
branch_labels = None
depends_on = None

INDEX = 'ix_free_blocks_prefix_network'


def upgrade() -> None:
    if op.get_context().dialect.name != 'postgresql':
        op.create_index(INDEX, 'free_blocks', ['prefix_id', 'network'])
        return
    with op.get_context().autocommit_block():
        leftover = op.get_bind().execute(text(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid"
        ), {"name": INDEX}).first()
        if leftover is not None:
            op.drop_index(INDEX, table_name='free_blocks', postgresql_concurrently=True)
        op.create_index(INDEX, 'free_blocks', ['prefix_id', 'network'], postgresql_concurrently=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name='free_blocks')
