"""provisioning: subscriber identities and the sync queue

Revision ID: provisioning_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'provisioning_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subscriber_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=400), nullable=False),
    sa.Column('auth', sa.String(length=10), nullable=True),
    sa.Column('secret', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'value', name='uq_identity_kind_value'),
    sa.UniqueConstraint('subscriber_id', 'kind', name='uq_identity_subscriber_kind')
    )
    op.create_index('ix_subscriber_identities_subscriber_id', 'subscriber_identities', ['subscriber_id'])
    op.create_table('provisioning_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=10), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('previous', sa.String(length=400), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_provisioning_queue_target', 'provisioning_queue', ['target'])
    # subscribers that exist before this migration need their first sync too
    for target in ('radius', 'kea'):
        op.execute(f"INSERT INTO provisioning_queue (target, subscriber_id) SELECT '{target}', id FROM subscribers")


def downgrade() -> None:
    op.drop_index('ix_provisioning_queue_target', 'provisioning_queue')
    op.drop_table('provisioning_queue')
    op.drop_index('ix_subscriber_identities_subscriber_id', 'subscriber_identities')
    op.drop_table('subscriber_identities')
