"""users, hashed credentials, heartbeats, and the tenant of pools and devices

Revision ID: auth_0001
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'auth_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash')
    )
    op.create_index('ix_credentials_user_id', 'credentials', ['user_id'])
    op.create_table('heartbeats',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_index('ix_allocations_created_at', 'allocations', ['created_at'])
    with op.batch_alter_table('pools') as batch:
        batch.add_column(sa.Column('tenant', sa.String(length=64), nullable=True))
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('tenant', sa.String(length=64), nullable=False, server_default='default'))
    op.create_index('ix_subscribers_tenant', 'subscribers', ['tenant'])
    op.create_index('ix_devices_tenant', 'devices', ['tenant'])


def downgrade() -> None:
    op.drop_index('ix_devices_tenant', 'devices')
    op.drop_index('ix_subscribers_tenant', 'subscribers')
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('tenant')
    with op.batch_alter_table('pools') as batch:
        batch.drop_column('tenant')
    op.drop_index('ix_allocations_created_at', 'allocations')
    op.drop_table('heartbeats')
    op.drop_index('ix_credentials_user_id', 'credentials')
    op.drop_table('credentials')
    op.drop_table('users')
