"""A job's unit of work in short steps: the checkpoint a job hands to a long service."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.shared.pacing import Checkpoint


def commit_and_yield(session: AsyncSession) -> Checkpoint:
    """A checkpoint that commits the job's batch (ending SQLite's write lock) and lets the
    bot's queued updates run before the next batch."""

    async def checkpoint() -> None:
        await session.commit()
        await asyncio.sleep(0)

    return checkpoint
