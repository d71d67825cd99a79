"""The inbox's failure mark, below the Telegram glue so the error handler can use it."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.inbox import INBOX_PARKED, INBOX_PENDING, InboxUpdate
from bot.db.session_hooks import CURRENT_ROW

# Set by the processor while it runs an update: the errors the user was already told about.
USER_TOLD: ContextVar[list[str] | None] = ContextVar("user_told", default=None)


async def mark_failed(
    sessionmaker: async_sessionmaker[AsyncSession], update_id: int, error: str, now: datetime
) -> None:
    """The errors router told the user: park the update (so that it is not retried)."""
    told = USER_TOLD.get()
    if told is not None:
        told.append(error[:2000])
    row_id = CURRENT_ROW.get()
    which = InboxUpdate.id == row_id if row_id is not None else InboxUpdate.update_id == update_id
    async with sessionmaker() as session:
        await session.execute(
            update(InboxUpdate)
            .where(which, InboxUpdate.state == INBOX_PENDING)
            .values(state=INBOX_PARKED, error=error[:2000], processed_at=now)
        )
        await session.commit()
