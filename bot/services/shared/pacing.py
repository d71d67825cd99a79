"""Long jobs in short steps: a checkpoint between batches lets the bot's updates run.

A scheduled job that walks a hundred units in one transaction holds SQLite's write lock (and,
between awaits, the event loop) for seconds, exactly when liaisons submit before a deadline.
Jobs therefore work in batches of `JOB_BATCH` units: a few set-wise queries per batch (what is
already done, who to tell), one short transaction per batch, then the job's checkpoint (its
commit and a yield: `scheduling.checkpoints.commit_and_yield`) so that queued updates run.
Services never commit themselves: the job hands them its checkpoint. Every step is idempotent
(keyed notices, insert-or-ignore marks), so a crash between batches is repaired by the next run,
and a rerun skips what is done with one query per batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

JOB_BATCH = 10  # units per transaction (a batch holds SQLite's write lock ~0.1 s under load)
T = TypeVar("T")
Checkpoint = Callable[[], Awaitable[None]]  # ends a batch: the job commits and yields


def batches(items: Sequence[T], size: int = JOB_BATCH) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


async def no_checkpoint() -> None:
    """Stay in the caller's one transaction (a test, or a caller that commits once at the end)."""


class Pacer:
    """Counts a job's items and reaches the job's checkpoint every `batch` of them."""

    def __init__(self, checkpoint: Checkpoint = no_checkpoint, batch: int = JOB_BATCH) -> None:
        self.checkpoint = checkpoint
        self.batch = batch
        self.count = 0

    async def step(self) -> None:
        """One item done: every `batch` items, the checkpoint (the job commits and yields)."""
        self.count += 1
        if self.count % self.batch == 0:
            await self.checkpoint()

    async def pause(self) -> None:
        """The checkpoint now (a batch of set-wise work ends)."""
        await self.checkpoint()
