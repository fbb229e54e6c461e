"""ipam: free blocks by address, for first fit in one index seek

Revision ID: ipam_0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = 'ipam_0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_free_blocks_prefix_network', 'free_blocks', ['prefix_id', 'network'])


def downgrade() -> None:
    op.drop_index('ix_free_blocks_prefix_network', table_name='free_blocks')
