"""Outbox of notices to people: written with the business change, delivered by the sender."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK

OUTBOX_PENDING = "pending"
OUTBOX_SENDING = "sending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"
ACTIVE_STATES = (OUTBOX_PENDING, OUTBOX_SENDING)


class OutboxMessage(Base):
    """One message to one chat; `dedup_key` makes enqueueing idempotent (a rerun adds nothing).

    Rows to one chat are delivered in id order: only the lowest active (pending/sending) row of a
    chat may be sent. `sending` is committed before the API call and `sent` right after it.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_due", "state", "not_before"),
        Index("ix_outbox_chat_state_id", "chat_id", "state", "id"),
        Index("ix_outbox_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # reminder, escalation, bulletin, notice...
    method: Mapped[str] = mapped_column(String(32), default="sendMessage")
    payload: Mapped[dict[str, Any]] = mapped_column()  # text/parse_mode/reply_markup/file...
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=OUTBOX_PENDING)
    is_group: Mapped[bool] = mapped_column(default=False)
    respect_quiet_hours: Mapped[bool] = mapped_column(default=True)
    not_before: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Added by revision 0006 (delivery).
    part: Mapped[int] = mapped_column(default=1, server_default="1")  # 1-based part of a split
    parts: Mapped[int] = mapped_column(default=1, server_default="1")
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # sender instance while sending
    claimed_at: Mapped[datetime | None] = mapped_column()
    failed_at: Mapped[datetime | None] = mapped_column()
    error_code: Mapped[int | None] = mapped_column()  # Telegram error code of the last failure
    duplicate_risk: Mapped[bool] = mapped_column(default=False, server_default=false())
