"""Finish inbox updates together: one statement for every chat finishing at the same moment.

Two kinds of finish, each a write that used to be one statement per update:
- a reply stored in flight whose call has returned (or was refused): `replying` -> done;
- an update whose handler wrote nothing, so no commit of its own marked it: `pending` -> done.
A caller waits until its row is committed (the processor gives up the chat's claim only then,
so nobody runs or re-sends the update again). Whoever asks while a statement runs is in the
next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import execute_alone
from bot.db.models.inbox import INBOX_DONE, INBOX_PENDING, INBOX_REPLYING, InboxUpdate

SETTLE, MARK = "settle", "mark"
_INBOX: Any = InboxUpdate.__table__  # plain UPDATEs: no ORM objects to synchronise


class Finisher:
    """Batches the settles and done-marks of inbox rows (one statement per kind per batch)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime]) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._waiting: list[tuple[int, str, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def settle(self, row_id: int) -> None:
        """The update's reply in flight is out (or refused): done, once committed."""
        await self._finish(row_id, SETTLE)

    async def mark_done(self, row_id: int) -> None:
        """A handler that wrote nothing: its update is done, once committed."""
        await self._finish(row_id, MARK)

    async def _finish(self, row_id: int, kind: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row_id, kind, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="inbox-finisher")
        await done

    def _statement(self, kind: str, ids: list[int]) -> Any:
        if kind == SETTLE:
            return update(_INBOX).where(
                _INBOX.c.id.in_(ids), _INBOX.c.state == INBOX_REPLYING
            ).values(state=INBOX_DONE, reply=None)
        return update(_INBOX).where(
            _INBOX.c.id.in_(ids), _INBOX.c.state == INBOX_PENDING
        ).values(state=INBOX_DONE, processed_at=self._clock())

    async def _run(self) -> None:
        while batch := self._waiting:
            self._waiting = []
            try:
                for kind in (SETTLE, MARK):
                    part = [(row_id, done) for row_id, k, done in batch if k == kind]
                    if part:
                        await self._run_part(kind, part)
            except BaseException:  # cancelled: no waiter of this batch is left hanging
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(asyncio.CancelledError())
                raise

    async def _run_part(self, kind: str, part: list[tuple[int, asyncio.Future[None]]]) -> None:
        """One statement finishes every row of `part`; a failure reaches each waiter (as if
        it had run the statement alone)."""
        try:
            await execute_alone(self._sessionmaker,
                                self._statement(kind, [row_id for row_id, _ in part]))
        except Exception as exc:
            for _, done in part:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in part:
            if not done.done():
                done.set_result(None)
