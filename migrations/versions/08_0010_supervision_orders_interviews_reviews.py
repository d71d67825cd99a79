"""supervision: numbered orders and their timeline, interviews, report reviews, problems

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 16:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.db.base

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, bot.db.base.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'order_counters',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('next_number', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['unit_code'], ['units.code'],
                                name=op.f('fk_order_counters_unit_code_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_counters')),
        sa.UniqueConstraint('unit_code', 'year', name=op.f('uq_order_counters_unit_code_year')),
    )
    op.create_table(
        'interviews',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('office_unit_code', sa.String(length=32), nullable=False),
        sa.Column('who', sa.String(length=200), nullable=False),
        _ts('held_at'),
        sa.Column('created_by', sa.BigInteger(), nullable=False),
        _ts('created_at'),
        sa.ForeignKeyConstraint(['office_unit_code'], ['units.code'],
                                name=op.f('fk_interviews_office_unit_code_units')),
        sa.ForeignKeyConstraint(['unit_code'], ['units.code'],
                                name=op.f('fk_interviews_unit_code_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_interviews')),
    )
    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interviews_unit_code'), ['unit_code'], unique=False)
    op.create_table(
        'supervision_orders',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('issuer_unit_code', sa.String(length=32), nullable=False),
        sa.Column('issued_by', sa.BigInteger(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        _ts('due_at'),
        _ts('created_at'),
        _ts('acknowledged_at', True),
        sa.Column('acknowledged_by', sa.BigInteger(), nullable=True),
        _ts('answered_at', True),
        sa.Column('answer_text', sa.Text(), nullable=True),
        sa.Column('answer_files', JSON, nullable=True),
        _ts('closed_at', True),
        sa.Column('repeats', sa.Integer(), nullable=False),
        _ts('escalated_at', True),
        _ts('overdue_at', True),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('origin_key', sa.String(length=128), nullable=True),
        sa.Column('interview_id', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['interview_id'], ['interviews.id'],
                                name=op.f('fk_supervision_orders_interview_id_interviews')),
        sa.ForeignKeyConstraint(['issuer_unit_code'], ['units.code'],
                                name=op.f('fk_supervision_orders_issuer_unit_code_units')),
        sa.ForeignKeyConstraint(['unit_code'], ['units.code'],
                                name=op.f('fk_supervision_orders_unit_code_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_orders')),
        sa.UniqueConstraint('issuer_unit_code', 'year', 'number',
                            name=op.f('uq_supervision_orders_issuer_unit_code_year_number')),
        sa.UniqueConstraint('origin_key', name=op.f('uq_supervision_orders_origin_key')),
    )
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        batch_op.create_index('ix_supervision_orders_state', ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_orders_unit_code'), ['unit_code'],
                              unique=False)
    op.create_table(
        'supervision_order_events',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('order_id', sa.BigInteger(), nullable=False),
        _ts('at'),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('actor', sa.BigInteger(), nullable=True),
        sa.Column('detail', JSON, nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['supervision_orders.id'],
                                name=op.f('fk_supervision_order_events_order_id_supervision_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_order_events')),
    )
    with op.batch_alter_table('supervision_order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_order_events_order_id'), ['order_id'],
                              unique=False)
    op.create_table(
        'report_reviews',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('report_id', sa.BigInteger(), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        _ts('received_at'),
        _ts('decided_at', True),
        sa.Column('decided_by', sa.BigInteger(), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('fields', JSON, nullable=True),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'],
                                name=op.f('fk_report_reviews_report_id_reports')),
        sa.ForeignKeyConstraint(['unit_code'], ['units.code'],
                                name=op.f('fk_report_reviews_unit_code_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_reviews')),
        sa.UniqueConstraint('report_id', name=op.f('uq_report_reviews_report_id')),
    )
    with op.batch_alter_table('report_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_report_reviews_state', ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_reviews_unit_code'), ['unit_code'],
                              unique=False)
    op.create_table(
        'problem_items',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('report_id', sa.BigInteger(), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('office_unit_code', sa.String(length=32), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        _ts('due_at'),
        _ts('created_at'),
        sa.Column('answer', sa.Text(), nullable=True),
        _ts('answered_at', True),
        sa.Column('answered_by', sa.BigInteger(), nullable=True),
        _ts('overdue_at', True),
        sa.ForeignKeyConstraint(['office_unit_code'], ['units.code'],
                                name=op.f('fk_problem_items_office_unit_code_units')),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'],
                                name=op.f('fk_problem_items_report_id_reports')),
        sa.ForeignKeyConstraint(['unit_code'], ['units.code'],
                                name=op.f('fk_problem_items_unit_code_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_problem_items')),
        sa.UniqueConstraint('report_id', name=op.f('uq_problem_items_report_id')),
    )
    with op.batch_alter_table('problem_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_items_unit_code'), ['unit_code'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('problem_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_items_unit_code'))
    op.drop_table('problem_items')
    with op.batch_alter_table('report_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_reviews_unit_code'))
        batch_op.drop_index('ix_report_reviews_state')
    op.drop_table('report_reviews')
    with op.batch_alter_table('supervision_order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_order_events_order_id'))
    op.drop_table('supervision_order_events')
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_orders_unit_code'))
        batch_op.drop_index('ix_supervision_orders_state')
    op.drop_table('supervision_orders')
    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interviews_unit_code'))
    op.drop_table('interviews')
    op.drop_table('order_counters')
