"""Inbox housekeeping for the office: parked updates (list, requeue) and pruning old rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.inbox import (
    INBOX_DONE,
    INBOX_FAILED,
    INBOX_PARKED,
    INBOX_PENDING,
    InboxUpdate,
)

SETTLED = (INBOX_DONE, INBOX_PARKED, INBOX_FAILED)


@dataclass(frozen=True)
class Parked:
    """A parked update as the office sees it: no payload (it may hold personal data)."""

    id: int
    update_id: int
    chat_id: int | None
    kind: str
    attempts: int
    error: str
    received_at: datetime
    parked_at: datetime | None


async def parked(session: AsyncSession, *, limit: int = 100) -> list[Parked]:
    """The most recently parked updates, newest first."""
    rows = (await session.scalars(
        select(InboxUpdate).where(InboxUpdate.state.in_((INBOX_PARKED, INBOX_FAILED)))
        .order_by(InboxUpdate.id.desc()).limit(limit))).all()
    return [Parked(r.id, r.update_id, r.chat_id,
                   next((k for k in r.payload if k != "update_id"), "?"), r.attempts,
                   r.error or "", r.received_at, r.processed_at) for r in rows]


async def requeue(session: AsyncSession, row_id: int) -> bool:
    """Put a parked update back in the queue with a fresh attempt count (the caller commits);
    a running bot's sweep picks it up within seconds. False if no such parked update."""
    result = await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.id == row_id, InboxUpdate.state.in_((INBOX_PARKED, INBOX_FAILED)))
        .values(state=INBOX_PENDING, attempts=0, error=None, processed_at=None))
    return bool(getattr(result, "rowcount", 0))


async def prune(session: AsyncSession, *, now: datetime, retention_days: int) -> int:
    """Delete done and parked rows settled more than `retention_days` ago (the caller
    commits); pending rows are never pruned. Returns how many were deleted."""
    cutoff = now - timedelta(days=retention_days)
    result = await session.execute(
        delete(InboxUpdate).where(InboxUpdate.state.in_(SETTLED),
                                  InboxUpdate.processed_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
