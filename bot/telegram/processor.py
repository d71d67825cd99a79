"""Durable update processing: store first, acknowledge, then process exactly once.

An update is written to `inbox_updates` (unique by update_id) before Telegram is told it was
received (the next getUpdates offset, or the webhook's 200). Processing runs it through the
dispatcher; the handler's commit marks it done in the same transaction (bot.db.session_hooks),
and a read-only handler's update is marked done when it returns. After a crash, pending
updates are processed again on start; a redelivered update is a no-op. Updates of one chat
run in order, different chats in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.inbox import INBOX_DONE, INBOX_FAILED, INBOX_PENDING, InboxUpdate
from bot.db.upsert import insert_ignore
from bot.telegram.middlewares import UPDATE_SETTLED

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


def chat_of(payload: dict[str, Any]) -> int | None:
    """The chat (or user, for chat-less updates) an update belongs to, for ordering."""
    for key, value in payload.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return int(chat["id"])
        sender = value.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return int(sender["id"])
    return None


class UpdateProcessor:
    """Owns the inbox: ingest (durable), recover (after a crash) and process (once)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        workers: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._dp = dispatcher
        self._bot = bot
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._slots = asyncio.Semaphore(workers)
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_hand: set[int] = set()

    async def ingest(self, updates: Iterable[dict[str, Any]]) -> int:
        """Store updates durably, then schedule the new ones; returns how many were new."""
        batch = list(updates)
        if not batch:
            return 0
        now = self._clock()
        rows = [
            {"update_id": int(u["update_id"]), "chat_id": chat_of(u), "payload": u,
             "state": INBOX_PENDING, "attempts": 0, "received_at": now}
            for u in batch
        ]
        async with self._sessionmaker() as session:
            ids = [r["update_id"] for r in rows]
            known = set(
                (await session.scalars(
                    select(InboxUpdate.update_id).where(InboxUpdate.update_id.in_(ids))
                )).all()
            )
            await insert_ignore(session, InboxUpdate, rows, ["update_id"])
            await session.commit()
        fresh = [u for u in batch if int(u["update_id"]) not in known]
        for u in fresh:
            self._schedule(int(u["update_id"]), chat_of(u), u)
        return len(fresh)

    async def recover(self) -> int:
        """Schedule every update left pending by a previous run; returns how many.

        Each recovery counts as an attempt: an update that was pending through MAX_ATTEMPTS
        restarts (it crashes the process, say) is marked failed instead of retried forever.
        """
        async with self._sessionmaker() as session:
            pending = InboxUpdate.state == INBOX_PENDING
            await session.execute(
                update(InboxUpdate).where(pending, InboxUpdate.attempts >= MAX_ATTEMPTS)
                .values(state=INBOX_FAILED, processed_at=self._clock(),
                        error="gave up: pending through repeated restarts")
            )
            await session.execute(
                update(InboxUpdate).where(pending).values(attempts=InboxUpdate.attempts + 1)
            )
            rows: list[Any] = list((await session.execute(
                select(InboxUpdate.update_id, InboxUpdate.chat_id, InboxUpdate.payload)
                .where(pending)
                .order_by(InboxUpdate.update_id)
            )).all())
            await session.commit()
        for update_id, chat_id, payload in rows:
            self._schedule(int(update_id), chat_id, dict(payload))
        if rows:
            log.info("recovering %d pending updates", len(rows))
        return len(rows)

    async def drain(self) -> None:
        """Wait until every scheduled update has been processed."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _schedule(self, update_id: int, chat_id: int | None, payload: dict[str, Any]) -> None:
        if update_id in self._in_hand:  # already scheduled in this process
            return
        self._in_hand.add(update_id)
        task = asyncio.create_task(self._run(update_id, chat_id, payload),
                                   name=f"update-{update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, update_id: int, chat_id: int | None, payload: dict[str, Any]) -> None:
        lock = self._chat_locks.setdefault(chat_id or 0, asyncio.Lock())
        async with lock, self._slots:
            try:
                await self._process(update_id, payload)
            finally:
                self._in_hand.discard(update_id)
                if not lock.locked() and not getattr(lock, "_waiters", None):
                    self._chat_locks.pop(chat_id or 0, None)

    async def _process(self, update_id: int, payload: dict[str, Any]) -> None:
        error: str | None = None
        settled = UPDATE_SETTLED.set(False)
        try:
            upd = Update.model_validate(payload, context={"bot": self._bot})
            await self._dp.feed_update(self._bot, upd)
        except Exception as exc:  # the errors router already answered the user
            log.exception("update %s raised", update_id)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            done_by_handler = UPDATE_SETTLED.get()
            UPDATE_SETTLED.reset(settled)
        if done_by_handler and error is None:
            return  # the handler's own transaction marked it done: no second one
        async with self._sessionmaker() as session:
            await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.update_id == update_id, InboxUpdate.state == INBOX_PENDING)
                .values(state=INBOX_FAILED if error else INBOX_DONE, error=error,
                        processed_at=self._clock())
            )
            await session.commit()


