"""probe runs and per-target probe history

Revision ID: probe_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'probe_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('probe_runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('target_count', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('probe_results',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=2048), nullable=False),
    sa.Column('verdict', sa.String(length=64), nullable=False),
    sa.Column('probed_at', sa.DateTime(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['probe_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_probe_results_target_time', 'probe_results', ['target', 'probed_at'])


def downgrade() -> None:
    op.drop_index('ix_probe_results_target_time', table_name='probe_results')
    op.drop_table('probe_results')
    op.drop_table('probe_runs')
