"""The inbox's failure mark, below the Telegram glue so the error handler can use it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.inbox import INBOX_DONE, INBOX_FAILED, InboxUpdate


async def mark_failed(
    sessionmaker: async_sessionmaker[AsyncSession], update_id: int, error: str, now: datetime
) -> None:
    """Record that an update's handler failed (so that it is not retried forever)."""
    async with sessionmaker() as session:
        await session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id, InboxUpdate.state != INBOX_DONE)
            .values(state=INBOX_FAILED, error=error[:2000], processed_at=now)
        )
        await session.commit()
