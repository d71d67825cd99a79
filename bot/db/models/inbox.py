"""Inbox of received updates: stored before Telegram is told they arrived, processed once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK

INBOX_PENDING = "pending"
INBOX_DONE = "done"
INBOX_FAILED = "failed"  # before parking existed
INBOX_PARKED = "parked"  # given up after repeated failures; `censusbot inbox requeue` retries
# Handled (its changes committed) and a reply stored in `reply` is on its way: the state lasts
# from the commit until the call returned, so a process killed in between leaves the reply to
# the chat's next claimant, which sends it (bot.telegram.processor), instead of losing it.
INBOX_REPLYING = "replying"


class InboxUpdate(Base):
    """A Telegram update; state pending → (replying →) done | parked.

    Unique by (bot_id, update_id, digest): a redelivery (same content) is a duplicate, while an
    update whose number was used before with other content (Telegram's numbering restarted, or
    a new bot token reuses the database) is a new update, not dropped.
    """

    __tablename__ = "inbox_updates"
    __table_args__ = (
        UniqueConstraint("bot_id", "update_id", "digest"),
        Index("ix_inbox_updates_chat_state", "chat_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bot_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    update_id: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(32), default="", server_default="")
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default=INBOX_PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column()
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    # The Bot API call in flight while `replying`: {"method": "SendMessage", "params": {...}}.
    reply: Mapped[dict[str, Any] | None] = mapped_column()


# The inbox as a Core table, for the processor's pick and marks: plain statements (the ORM's
# bulk-update bookkeeping, synchronising objects no session holds, cost more than they do).
INBOX_TABLE: Any = InboxUpdate.__table__
