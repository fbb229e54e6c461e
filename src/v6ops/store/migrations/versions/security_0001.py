"""VM security API: VMs, their config versions, security events

Revision ID: security_0001
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'security_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('security_vms',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('profile', sa.String(length=32), nullable=False),
    sa.Column('ipv6_config', sa.JSON(), nullable=False),
    sa.Column('compiled', sa.Text(), nullable=False),
    sa.Column('compiled_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_security_vms_customer_id', 'security_vms', ['customer_id'])
    op.create_index('ix_security_vms_tier', 'security_vms', ['tier'])
    op.create_index('ix_security_vms_profile', 'security_vms', ['profile'])
    op.create_table('security_vm_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vm_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('ipv6_config', sa.JSON(), nullable=True),
    sa.Column('compiled_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('vm_id', 'version')
    )
    op.create_index('ix_security_vm_versions_vm_time', 'security_vm_versions', ['vm_id', 'created_at'])
    op.create_table('security_events',
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('timestamp', sa.DateTime(), nullable=False),
    sa.Column('vm_id', sa.String(length=256), nullable=False),
    sa.Column('customer_id', sa.String(length=256), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('severity_rank', sa.Integer(), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_security_events_timestamp', 'security_events', ['timestamp'])
    op.create_index('ix_security_events_vm_time', 'security_events', ['vm_id', 'timestamp'])
    op.create_index('ix_security_events_customer_time', 'security_events', ['customer_id', 'timestamp'])


def downgrade() -> None:
    op.drop_table('security_events')
    op.drop_table('security_vm_versions')
    op.drop_table('security_vms')
