"""Long jobs in short steps: commit every few items and let the bot's updates run between.

A scheduled job that walks a hundred units in one transaction holds SQLite's write lock (and,
between awaits, the event loop) for seconds, exactly when liaisons submit before a deadline.
Jobs therefore commit every `batch` items and yield; every step is idempotent (keyed notices,
insert-or-ignore marks), so a crash between batches is repaired by the next run.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

JOB_BATCH = 5  # units per transaction


class Pacer:
    """Counts a job's items; commits and yields to other tasks every `batch` of them."""

    def __init__(self, session: AsyncSession, batch: int = JOB_BATCH) -> None:
        self.session = session
        self.batch = batch
        self.count = 0

    async def step(self) -> None:
        """One item done: every `batch` items commit it and what came before, then yield."""
        self.count += 1
        if self.count % self.batch == 0:
            await self.session.commit()
        await asyncio.sleep(0)  # let queued updates (and their replies) run

    async def pause(self) -> None:
        """Commit now and yield (between two phases of a job)."""
        await self.session.commit()
        await asyncio.sleep(0)
