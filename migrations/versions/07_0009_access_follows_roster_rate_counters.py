"""access follows the roster: grant source record, binding channel, rate counters, impostor merge

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-30 16:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_counters',
    sa.Column('key', sa.String(length=96), nullable=False),
    sa.Column('a_window', sa.BigInteger(), nullable=False),
    sa.Column('a_count', sa.Integer(), nullable=False),
    sa.Column('b_window', sa.BigInteger(), nullable=False),
    sa.Column('b_count', sa.Integer(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_counters'))
    )
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_staff_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_role_grants_source_staff_id'), ['source_staff_id'],
                              unique=False)
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bound_via', sa.String(length=8), nullable=True))
    with op.batch_alter_table('impostor_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgent', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('duplicates', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('impostor_reports', schema=None) as batch_op:
        batch_op.alter_column('urgent', server_default=None)
        batch_op.alter_column('duplicates', server_default=None)
    # Existing binding grants: tie each to the record bound to its holder. A grant that no
    # longer matches that record's role and unit stops counting at once (access.py).
    op.execute(
        "UPDATE role_grants SET source_staff_id = (SELECT s.staff_id FROM staff s "
        "WHERE s.telegram_user_id = role_grants.user_id) WHERE source = 'binding'"
    )
    # A binding made with an office code is known from the used code; any other binding
    # counts as made by contact (so a privileged role needs a fresh code).
    op.execute(
        "UPDATE staff SET bound_via = CASE WHEN EXISTS (SELECT 1 FROM binding_codes c "
        "WHERE c.staff_id = staff.staff_id AND c.used_by = staff.telegram_user_id) "
        "THEN 'code' ELSE 'contact' END WHERE telegram_user_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('impostor_reports', schema=None) as batch_op:
        batch_op.drop_column('duplicates')
        batch_op.drop_column('urgent')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('bound_via')
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_grants_source_staff_id'))
        batch_op.drop_column('source_staff_id')
    op.drop_table('rate_counters')
