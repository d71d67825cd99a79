"""Run the real bot (real aiogram HTTP session) against the project's Bot API emulator."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.outbox import (
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    OutboxMessage,
)
from bot.telegram.app import BotApp
from emulator.harness import Clock, settings_for, start_bot

__all__ = ["Clock", "settings_for", "start_bot", "wait_delivered"]

_RETURNED: weakref.WeakKeyDictionary[BotApp, set[int]] = weakref.WeakKeyDictionary()


async def wait_delivered(app: BotApp, *, timeout: float = 20.0,  # noqa: ASYNC109
                         allow_failed: bool = False) -> list[OutboxMessage]:
    """Wait until the bot's own outbox sender has settled every due row; return the rows it
    sent since the last call for this app (id order).

    "Settled": no row is `sending` and none is `pending` with `not_before` at or before the
    bot's clock (rows deferred to later stay queued and are not waited for). A row that failed
    raises AssertionError unless `allow_failed`.
    """
    maker: async_sessionmaker[AsyncSession] = app.dp["sessionmaker"]
    clock: Callable[[], datetime] = app.dp["clock"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with maker() as session:
            waiting = await session.scalar(select(func.count(OutboxMessage.id)).where(
                (OutboxMessage.state == OUTBOX_SENDING)
                | ((OutboxMessage.state == OUTBOX_PENDING)
                   & (OutboxMessage.not_before <= clock()))))
            await session.commit()
        if not waiting:
            break
        if loop.time() > deadline:
            raise AssertionError(f"the outbox sender left {waiting} due row(s) after {timeout}s"
                                 " (is it running? see app.dp['components'])")
        await asyncio.sleep(0.05)
    returned = _RETURNED.setdefault(app, set())
    async with maker() as session:
        rows = [r for r in (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.state.in_((OUTBOX_SENT, OUTBOX_FAILED))).order_by(OutboxMessage.id)
        )).all() if r.id not in returned]
        await session.commit()
    returned.update(r.id for r in rows)
    failed = [(r.id, r.chat_id, r.method, r.error_code, r.last_error) for r in rows
              if r.state == OUTBOX_FAILED]
    if failed and not allow_failed:
        raise AssertionError(f"outbox rows failed: {failed}")
    return [r for r in rows if r.state == OUTBOX_SENT]
