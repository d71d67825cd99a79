"""inbox: a surrogate key, the bot id and a content digest (unique together with update_id),
so that a restarted update numbering or a new bot token is never taken for redeliveries;
an index for per-chat claiming and one for pruning

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.base
from sqlalchemy.dialects import postgresql

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
COLUMNS = "chat_id, payload, state, attempts, error, received_at, processed_at"


def _retire_old_table() -> None:
    """Rename inbox_updates out of the way, with the names of its key and index."""
    op.drop_index('ix_inbox_updates_state', table_name='inbox_updates')
    op.rename_table('inbox_updates', 'inbox_updates_old')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE inbox_updates_old RENAME CONSTRAINT pk_inbox_updates '
                   'TO pk_inbox_updates_old')


def upgrade() -> None:
    _retire_old_table()
    op.create_table('inbox_updates',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bot_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.String(length=32), server_default='', nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', bot.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', bot.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_updates')),
    sa.UniqueConstraint('bot_id', 'update_id', 'digest',
                        name=op.f('uq_inbox_updates_bot_id_update_id_digest'))
    )
    with op.batch_alter_table('inbox_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_updates_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_updates_processed_at'), ['processed_at'],
                              unique=False)
        batch_op.create_index('ix_inbox_updates_chat_state', ['chat_id', 'state'], unique=False)
    # Rows from before keep bot id 0 and an empty digest (a redelivery of one is still known).
    op.execute(f"INSERT INTO inbox_updates (bot_id, update_id, digest, {COLUMNS}) "
               f"SELECT 0, update_id, '', {COLUMNS} FROM inbox_updates_old ORDER BY update_id")
    op.drop_table('inbox_updates_old')


def downgrade() -> None:
    with op.batch_alter_table('inbox_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_updates_chat_state')
        batch_op.drop_index(batch_op.f('ix_inbox_updates_processed_at'))
    op.drop_index('ix_inbox_updates_state', table_name='inbox_updates')
    op.rename_table('inbox_updates', 'inbox_updates_new')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE inbox_updates_new RENAME CONSTRAINT pk_inbox_updates '
                   'TO pk_inbox_updates_new')
        op.execute('ALTER TABLE inbox_updates_new RENAME CONSTRAINT '
                   'uq_inbox_updates_bot_id_update_id_digest TO uq_inbox_updates_new_key')
    op.create_table('inbox_updates',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', bot.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', bot.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('update_id', name=op.f('pk_inbox_updates'))
    )
    with op.batch_alter_table('inbox_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_updates_state'), ['state'], unique=False)
    # One row per update number (the latest, when the numbering was reused).
    op.execute(f"INSERT INTO inbox_updates (update_id, {COLUMNS}) "
               f"SELECT update_id, {COLUMNS} FROM inbox_updates_new WHERE id IN "
               f"(SELECT MAX(id) FROM inbox_updates_new GROUP BY update_id)")
    op.drop_table('inbox_updates_new')
