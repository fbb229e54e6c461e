"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22

On PostgreSQL two GiST exclusion constraints make overlap impossible whatever the client
does: no two allocations of one VRF overlap, and no two pool ranges of one VRF overlap.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from v6ops.store.types import BigCount, Cidr

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('family_policy', sa.String(length=20), nullable=False),
    sa.Column('threshold_percent', sa.SmallInteger(), nullable=False),
    sa.Column('lab', sa.Boolean(), nullable=False),
    sa.Column('quarantine_seconds', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('vrfs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('dns_name', sa.String(length=253), nullable=True),
    sa.Column('vrf_id', sa.Integer(), nullable=False),
    sa.Column('ipv4', sa.LargeBinary(length=4), nullable=True),
    sa.Column('ipv6', sa.LargeBinary(length=16), nullable=True),
    sa.Column('subnet_allocation_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['vrf_id'], ['vrfs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('vrf_id', 'ipv6', name='uq_device_ipv6')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index('ix_devices_region_last_seen', ['region', 'last_seen'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('pool_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)

    op.create_table('prefixes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vrf_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('family', sa.SmallInteger(), nullable=False),
    sa.Column('network', sa.LargeBinary(length=16), nullable=False),
    sa.Column('length', sa.SmallInteger(), nullable=False),
    sa.Column('cidr', Cidr(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('pool_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=20), nullable=True),
    sa.Column('customer_length', sa.SmallInteger(), nullable=True),
    sa.Column('all_usable', sa.Boolean(), nullable=False),
    sa.Column('used_units', BigCount(), nullable=False),
    sa.Column('total_units', BigCount(), nullable=False),
    sa.Column('alerting', sa.Boolean(), nullable=False),
    sa.Column('next_reclaim_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['prefixes.id'], ),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], ),
    sa.ForeignKeyConstraint(['vrf_id'], ['vrfs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('vrf_id', 'family', 'network', 'length', name='uq_prefix_vrf_network')
    )
    with op.batch_alter_table('prefixes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prefixes_pool_id'), ['pool_id'], unique=False)

    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('service_tier', sa.String(length=32), nullable=False),
    sa.Column('ipv4_download_bps', sa.BigInteger(), nullable=True),
    sa.Column('ipv4_upload_bps', sa.BigInteger(), nullable=True),
    sa.Column('ipv6_download_bps', sa.BigInteger(), nullable=True),
    sa.Column('ipv6_upload_bps', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dns_name', sa.String(length=253), nullable=True),
    sa.Column('pool_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vrf_id', sa.Integer(), nullable=False),
    sa.Column('prefix_id', sa.Integer(), nullable=False),
    sa.Column('family', sa.SmallInteger(), nullable=False),
    sa.Column('network', sa.LargeBinary(length=16), nullable=False),
    sa.Column('length', sa.SmallInteger(), nullable=False),
    sa.Column('cidr', Cidr(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('dns_name', sa.String(length=253), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('reusable_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
    sa.ForeignKeyConstraint(['prefix_id'], ['prefixes.id'], ),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ),
    sa.ForeignKeyConstraint(['vrf_id'], ['vrfs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('vrf_id', 'family', 'network', 'length', name='uq_allocation_vrf_network')
    )
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_allocations_device_id'), ['device_id'], unique=False)
        batch_op.create_index('ix_allocations_quarantine', ['prefix_id', 'status', 'reusable_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_allocations_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('free_blocks',
    sa.Column('prefix_id', sa.Integer(), nullable=False),
    sa.Column('length', sa.SmallInteger(), nullable=False),
    sa.Column('network', sa.LargeBinary(length=16), nullable=False),
    sa.ForeignKeyConstraint(['prefix_id'], ['prefixes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('prefix_id', 'length', 'network')
    )
    if op.get_bind().dialect.name == "postgresql":
        # btree_gist provides the "=" operator class for the integer vrf_id inside a GiST index.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE allocations ADD CONSTRAINT ex_allocations_no_overlap "
            "EXCLUDE USING gist (vrf_id WITH =, cidr inet_ops WITH &&)"
        )
        op.execute(
            "ALTER TABLE prefixes ADD CONSTRAINT ex_pool_ranges_no_overlap "
            "EXCLUDE USING gist (vrf_id WITH =, cidr inet_ops WITH &&) WHERE (pool_id IS NOT NULL)"
        )


def downgrade() -> None:
    op.drop_table('free_blocks')
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allocations_subscriber_id'))
        batch_op.drop_index('ix_allocations_quarantine')
        batch_op.drop_index(batch_op.f('ix_allocations_device_id'))

    op.drop_table('allocations')
    op.drop_table('subscribers')
    with op.batch_alter_table('prefixes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prefixes_pool_id'))

    op.drop_table('prefixes')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_at'))

    op.drop_table('events')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('ix_devices_region_last_seen')

    op.drop_table('devices')
    op.drop_table('vrfs')
    op.drop_table('pools')
