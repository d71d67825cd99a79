"""reports: newly found objects (新增), the history of targets changed in chat, and office
heads' subscriptions to notices (first submissions)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.base
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('report_target_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('phase', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('old_value', sa.Float(), nullable=True),
    sa.Column('new_value', sa.Float(), nullable=False),
    sa.Column('changed_by', sa.BigInteger(), nullable=False),
    sa.Column('changed_at', bot.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_report_target_changes_unit_code_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_target_changes'))
    )
    with op.batch_alter_table('report_target_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_target_changes_unit_code'), ['unit_code'], unique=False)
    op.create_table('notice_subscriptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('created_at', bot.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_subscriptions')),
    sa.UniqueConstraint('user_id', 'kind', name=op.f('uq_notice_subscriptions_user_id_kind'))
    )
    with op.batch_alter_table('notice_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_subscriptions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('new_found', JSON, nullable=True))
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('new_found', JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.drop_column('new_found')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('new_found')
    with op.batch_alter_table('notice_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_subscriptions_user_id'))
    op.drop_table('notice_subscriptions')
    with op.batch_alter_table('report_target_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_target_changes_unit_code'))
    op.drop_table('report_target_changes')
