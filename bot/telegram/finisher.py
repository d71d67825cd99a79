"""Finish inbox updates together: one statement for every chat finishing at the same moment.

Two kinds of finish, each a write that used to be one statement per update:
- a reply stored in flight whose call has returned (or was refused): `replying` -> done;
- an update whose handler wrote nothing, so no commit of its own marked it: `pending` -> done.
A caller waits until its row is committed (the processor gives up the chat's claim only then,
so nobody runs or re-sends the update again). Whoever asks while a statement runs is in the
next one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import execute_alone
from bot.db.models.inbox import INBOX_DONE, INBOX_PENDING, INBOX_REPLYING
from bot.db.models.inbox import INBOX_TABLE as _INBOX
from bot.util.coalesce import Coalescer

SETTLE, MARK = "settle", "mark"


class Finisher:
    """Batches the settles and done-marks of inbox rows (one statement per kind per batch)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime]) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._batches: Coalescer[int, None] = Coalescer(
            (SETTLE, MARK), self._run_batch, name="inbox-finisher")

    async def settle(self, row_id: int) -> None:
        """The update's reply in flight is out (or refused): done, once committed."""
        await self._batches.ask(SETTLE, row_id)

    async def mark_done(self, row_id: int) -> None:
        """A handler that wrote nothing: its update is done, once committed."""
        await self._batches.ask(MARK, row_id)

    async def _run_batch(self, kind: str, ids: list[int]) -> list[None]:
        """One statement finishes every row of the batch."""
        await execute_alone(self._sessionmaker, self._statement(kind, ids))
        return [None] * len(ids)

    def _statement(self, kind: str, ids: list[int]) -> Any:
        if kind == SETTLE:
            return update(_INBOX).where(
                _INBOX.c.id.in_(ids), _INBOX.c.state == INBOX_REPLYING
            ).values(state=INBOX_DONE, reply=None)
        return update(_INBOX).where(
            _INBOX.c.id.in_(ids), _INBOX.c.state == INBOX_PENDING
        ).values(state=INBOX_DONE, processed_at=self._clock())
