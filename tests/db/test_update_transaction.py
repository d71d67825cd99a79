"""One transaction per update: what a handler's services flushed, and its conversation state,
are committed with the update's done-mark by the middleware, or rolled back together when the
handler fails (nothing half-saved, and the update is not marked done); both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Message
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models.audit import AuditEntry
from bot.db.models.fsm import FsmRecord
from bot.db.models.inbox import InboxUpdate
from bot.db.models.outbox import OutboxMessage
from bot.db.models.reports import NoticeSubscription
from bot.db.read_phase import end_read_phase
from bot.fsm_storage import SqlStorage
from bot.i18n import Catalogs
from bot.services.reports import notices as report_notices
from bot.services.shared import audit, outbox
from bot.telegram.middlewares import ContextMiddleware
from bot.telegram.processor import UpdateProcessor
from tests.conftest import at

NOW = at("2018-10-08 09:00")
USER = 4242
BOT_ID = 42


def _update(update_id: int, text: str) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1538960400, "text": text,
        "chat": {"id": USER, "type": "private"},
        "from": {"id": USER, "is_bot": False, "first_name": "T", "language_code": "zh-hans"}}}


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    b = Bot(f"{BOT_ID}:TEST")
    yield b
    await b.session.close()


def _processor(sessionmaker: async_sessionmaker[AsyncSession], bot: Bot,
               storage: SqlStorage) -> UpdateProcessor:
    """The production middleware and storage around a handler that writes through services."""
    router = Router()

    async def work(message: Message, session: AsyncSession, state: FSMContext,
                   fail: bool) -> None:
        await report_notices.set_subscription(session, user_id=USER, kind="first_submission",
                                              on=True, now=NOW)
        audit.record(session, now=NOW, action="test.work", actor_user_id=USER)
        await outbox.enqueue(session, now=NOW, chat_id=USER, kind="test", text="queued",
                             dedup_key=f"test:{message.message_id}")
        await session.flush()
        await state.set_state("Form:waiting")
        await state.update_data(step=message.message_id)
        if fail:
            raise RuntimeError("the handler failed after its services flushed")

    async def ok(message: Message, session: AsyncSession, state: FSMContext) -> None:
        await work(message, session, state, fail=False)

    async def boom(message: Message, session: AsyncSession, state: FSMContext) -> None:
        await work(message, session, state, fail=True)

    async def form(message: Message, session: AsyncSession, state: FSMContext) -> None:
        await state.set_state("Form:first")  # no other database work
        await state.update_data(first=1)
        await state.set_state("Form:second")
        await state.update_data(second=2)
        await end_read_phase(session)  # as the FAQ does before its search: nothing is lost

    async def nested(message: Message, session: AsyncSession, state: FSMContext) -> None:
        await state.set_state("Form:first")
        async with session.begin_nested():  # a SAVEPOINT, released: nothing is committed yet
            audit.record(session, now=NOW, action="test.work", actor_user_id=USER)
        if (message.text or "").endswith("boom"):
            raise RuntimeError("the handler failed after its savepoint was released")
        await state.set_state("Form:second")
        await state.update_data(step=message.message_id)

    router.message.register(form, Command("form"))
    router.message.register(nested, Command("nested", "nestedboom"))
    router.message.register(ok, Command("ok"))
    router.message.register(boom, Command("boom"))
    dp = Dispatcher(storage=storage)
    dp["sessionmaker"] = sessionmaker
    dp["catalogs"] = Catalogs()
    dp["clock"] = lambda: NOW
    dp.update.outer_middleware(ContextMiddleware())
    dp.include_router(router)
    return UpdateProcessor(dp, bot, sessionmaker, workers=1, clock=lambda: NOW)


async def _counts(sm: async_sessionmaker[AsyncSession]) -> tuple[int, int, int, int]:
    async with sm() as s:
        subs = await s.scalar(select(func.count(NoticeSubscription.id)))
        entries = await s.scalar(select(func.count(AuditEntry.id))
                                 .where(AuditEntry.action == "test.work"))
        queued = await s.scalar(select(func.count(OutboxMessage.id))
                                .where(OutboxMessage.kind == "test"))
        states = await s.scalar(select(func.count()).select_from(FsmRecord))
    return int(subs or 0), int(entries or 0), int(queued or 0), int(states or 0)


async def _inbox(sm: async_sessionmaker[AsyncSession], update_id: int) -> tuple[str, str | None]:
    async with sm() as s:
        row = await s.get(InboxUpdate, update_id)
        assert row is not None
        return row.state, row.error


async def _fsm_writes(engine: AsyncEngine, proc: UpdateProcessor,
                      update: dict[str, object]) -> list[str]:
    """Run `update`; the statements that wrote conversation state (their first word)."""
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        if words[0].upper() != "SELECT" and "fsm_state" in words[:4]:
            writes.append(words[0].upper())

    await proc.ingest([update])
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await proc.drain()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    return writes


async def test_a_failing_handler_leaves_nothing_half_saved_and_the_update_not_done(
    sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    storage = SqlStorage(sessionmaker)
    proc = _processor(sessionmaker, bot, storage)
    key = StorageKey(bot_id=BOT_ID, chat_id=USER, user_id=USER)

    await proc.ingest([_update(1, "/boom")])
    await proc.drain()
    # the subscription, the audit entry, the queued message and the conversation state were
    # all flushed before the error: none of them is stored
    assert await _counts(sessionmaker) == (0, 0, 0, 0)
    state, error = await _inbox(sessionmaker, 1)
    assert state == "parked" and error is not None and "handler failed" in error
    # the storage's cache did not keep the state of the rolled-back transaction
    assert await storage.get_state(key) is None and await storage.get_data(key) == {}
    assert await SqlStorage(sessionmaker).get_state(key) is None  # as after a restart

    await proc.ingest([_update(2, "/ok")])
    await proc.drain()
    # the same work without the error: all of it committed, with the update's done-mark
    assert await _counts(sessionmaker) == (1, 1, 1, 1)
    assert await _inbox(sessionmaker, 2) == ("done", None)
    assert await storage.get_state(key) == "Form:waiting"
    assert await SqlStorage(sessionmaker).get_data(key) == {"step": 2}


async def test_conversation_steps_are_written_once_with_the_commit(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    """A handler that only moves the conversation on (four state and data changes, no other
    database work) commits them with its update: one write of the record, the last values."""
    proc = _processor(sessionmaker, bot, SqlStorage(sessionmaker))
    assert await _fsm_writes(engine, proc, _update(1, "/form")) == ["INSERT"]
    assert await _inbox(sessionmaker, 1) == ("done", None)
    key = StorageKey(bot_id=BOT_ID, chat_id=USER, user_id=USER)
    fresh = SqlStorage(sessionmaker)  # as after a restart: read from the database
    assert await fresh.get_state(key) == "Form:second"
    assert await fresh.get_data(key) == {"first": 1, "second": 2}


async def test_a_released_savepoint_commits_nothing_early(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    """A SAVEPOINT released inside the handler is no commit: a later failure rolls back its
    work and the conversation's state (the storage's cache does not hold it either); without
    the failure, the update is marked done and the state written once, at the commit."""
    storage = SqlStorage(sessionmaker)
    proc = _processor(sessionmaker, bot, storage)
    key = StorageKey(bot_id=BOT_ID, chat_id=USER, user_id=USER)
    await proc.ingest([_update(1, "/nestedboom")])
    await proc.drain()
    assert (await _counts(sessionmaker))[1:] == (0, 0, 0)  # no audit entry, no state
    assert (await _inbox(sessionmaker, 1))[0] == "parked"
    assert await storage.get_state(key) is None

    assert await _fsm_writes(engine, proc, _update(2, "/nested")) == ["INSERT"]
    assert await _inbox(sessionmaker, 2) == ("done", None)
    assert (await _counts(sessionmaker))[1:] == (1, 0, 1)
    assert await SqlStorage(sessionmaker).get_state(key) == "Form:second"
    assert await SqlStorage(sessionmaker).get_data(key) == {"step": 2}
