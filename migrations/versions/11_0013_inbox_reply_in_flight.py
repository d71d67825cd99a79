"""inbox: the reply in flight (state `replying`), so that a process killed between an
update's commit and its reply leaves the reply to be sent, not lost

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 06:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('inbox_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply', JSON, nullable=True))


def downgrade() -> None:
    # A reply still in flight is settled as sent: the older schema has no place for it.
    op.execute("UPDATE inbox_updates SET state = 'done' WHERE state = 'replying'")
    with op.batch_alter_table('inbox_updates', schema=None) as batch_op:
        batch_op.drop_column('reply')
