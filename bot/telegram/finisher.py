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
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import execute_alone
from bot.db.fixed_sets import in_batch
from bot.db.models.inbox import INBOX_DONE, INBOX_PENDING, INBOX_REPLYING
from bot.db.models.inbox import INBOX_TABLE as _INBOX
from bot.util.coalesce import Coalescer

SETTLE, MARK = "settle", "mark"


class Finisher:
    """Batches the settles and done-marks of inbox rows (one statement per kind per batch)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime]) -> None:
        self._sessionmaker = sessionmaker
        self._dialect = sessionmaker.kw["bind"].dialect.name
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
        params: dict[str, Any] = {"ids": ids}
        if kind == MARK:
            params["at"] = self._clock()
        await execute_alone(self._sessionmaker, _statement(kind, self._dialect), params)
        return [None] * len(ids)


@lru_cache(maxsize=4)
def _statement(kind: str, dialect: str) -> Any:
    """The finish of the rows in the batch parameter "ids" (a mark's time is "at"), built once
    per kind and dialect."""
    ids = in_batch(_INBOX.c.id, "ids", dialect)
    if kind == SETTLE:
        return update(_INBOX).where(ids, _INBOX.c.state == INBOX_REPLYING).values(
            state=INBOX_DONE, reply=None)
    return update(_INBOX).where(ids, _INBOX.c.state == INBOX_PENDING).values(
        state=INBOX_DONE, processed_at=bindparam("at", type_=_INBOX.c.processed_at.type))
