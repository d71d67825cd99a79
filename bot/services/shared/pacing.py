"""Long jobs in short steps: commit every few items and let the bot's updates run between.

A scheduled job that walks a hundred units in one transaction holds SQLite's write lock (and,
between awaits, the event loop) for seconds, exactly when liaisons submit before a deadline.
Jobs therefore work in batches of `JOB_BATCH` units: a few set-wise queries per batch (what is
already done, who to tell), one short transaction per batch, then a yield so that queued
updates run. Every step is idempotent (keyed notices, insert-or-ignore marks), so a crash
between batches is repaired by the next run, and a rerun skips what is done with one query
per batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

JOB_BATCH = 10  # units per transaction (a batch holds SQLite's write lock ~0.1 s under load)
T = TypeVar("T")


def batches(items: Sequence[T], size: int = JOB_BATCH) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


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
        """Commit now (ending the transaction and its write lock) and yield to other tasks."""
        await self.session.commit()
        await asyncio.sleep(0)


async def pause(session: AsyncSession) -> None:
    """Commit now (ending the transaction and its write lock) and yield to other tasks."""
    await session.commit()
    await asyncio.sleep(0)
