"""The inbox: stored once, processed once, poison updates given up after repeated restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models.inbox import InboxUpdate
from bot.telegram.processor import MAX_ATTEMPTS, UpdateProcessor, chat_of, digest_of
from tests.conftest import at

NOW = at("2018-10-08 09:00")


def _update(update_id: int, chat_id: int, text: str = "hi") -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1538960400, "text": text,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "T"}}}


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    b = Bot("42:TEST")
    yield b
    await b.session.close()


def _processor(sessionmaker: async_sessionmaker[AsyncSession], bot: Bot,
               seen: list[tuple[int, str]], workers: int = 4) -> UpdateProcessor:
    router = Router()

    async def record(message: Message) -> None:
        seen.append((message.chat.id, message.text or ""))

    router.message.register(record)
    dp = Dispatcher()
    dp.include_router(router)
    return UpdateProcessor(dp, bot, sessionmaker, workers=workers, clock=lambda: NOW)


async def test_each_update_is_handled_once_in_chat_order(
    sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    seen: list[tuple[int, str]] = []
    proc = _processor(sessionmaker, bot, seen)
    batch = [_update(i, 100 + i % 2, f"m{i}") for i in range(1, 11)]
    assert await proc.ingest(batch) == 10
    assert await proc.ingest(batch[:3]) == 0  # redelivered: nothing new
    await proc.drain()
    assert sorted(seen) == sorted((100 + i % 2, f"m{i}") for i in range(1, 11))
    for chat in (100, 101):
        texts = [t for c, t in seen if c == chat]
        assert texts == sorted(texts, key=lambda t: int(t[1:]))
    async with sessionmaker() as s:
        states = set((await s.scalars(select(InboxUpdate.state))).all())
    assert states == {"done"}


async def test_pending_updates_are_recovered_and_poison_ones_given_up(
    sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    async with sessionmaker() as s:
        s.add_all([
            InboxUpdate(update_id=1, chat_id=7, payload=_update(1, 7, "left over"),
                        state="pending", attempts=0, received_at=NOW),
            InboxUpdate(update_id=2, chat_id=8, payload=_update(2, 8, "poison"),
                        state="pending", attempts=MAX_ATTEMPTS, received_at=NOW),
            InboxUpdate(update_id=3, chat_id=9, payload=_update(3, 9, "finished"),
                        state="done", attempts=1, received_at=NOW),
        ])
        await s.commit()
    seen: list[tuple[int, str]] = []
    proc = _processor(sessionmaker, bot, seen)
    assert await proc.recover() == 1
    await proc.drain()
    assert seen == [(7, "left over")]
    async with sessionmaker() as s:
        rows = {r.update_id: r for r in (await s.scalars(select(InboxUpdate))).all()}
    assert rows[1].state == "done" and rows[1].attempts == 1
    assert rows[2].state == "parked" and "repeated restarts" in (rows[2].error or "")
    assert rows[3].state == "done"


async def test_each_pending_update_is_picked_once_and_late_ones_are_not_missed(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    """A pick tells whether the chat has more: N updates cost N picked rows and no pick that
    finds nothing (chats asking at the same moment may share a statement); an update stored
    while its chat is being processed is processed too."""
    picks: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE INBOX_UPDATES SET ATTEMPTS"):
            picks.append(statement)

    seen: list[tuple[int, str]] = []
    proc = _processor(sessionmaker, bot, seen)
    late = [_update(20, 300, "late")]
    answers: list[Any] = []  # what each asker of a pick got
    run = proc._picker._run

    async def noting(kind: str, chats: list[int | None]) -> list[Any]:
        got = await run(kind, chats)
        answers.extend(got)
        return got

    proc._picker._batches._run_kind = noting
    router = Router()

    async def arrive_meanwhile(message: Message) -> None:
        seen.append((message.chat.id, message.text or ""))
        if message.text == "m1":
            await proc.ingest(late)  # stored while chat 300 is held

    router.message.register(arrive_meanwhile)
    proc._dp = Dispatcher()
    proc._dp.include_router(router)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await proc.ingest([_update(i, 300, f"m{i}") for i in (1, 2, 3)]
                                 + [_update(10, 301, "alone")]) == 4
        await proc.drain()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert [t for c, t in seen if c == 300] == ["m1", "m2", "m3", "late"]
    assert [t for c, t in seen if c == 301] == ["alone"]
    assert None not in answers  # never a pick that finds nothing
    assert len(answers) == 5  # one per update
    assert 1 <= len(picks) <= 5
    async with sessionmaker() as s:
        assert set((await s.scalars(select(InboxUpdate.state))).all()) == {"done"}


async def test_chats_picking_at_the_same_moment_share_one_statement(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    """Twenty chats asking for their next update at once: one statement, each chat its own
    lowest update (counted as started), and whether it has another."""
    picks: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE INBOX_UPDATES SET ATTEMPTS"):
            picks.append(statement)

    proc = _processor(sessionmaker, bot, [])
    chats = list(range(400, 420))
    await proc.ingest([_update(1000 + c, c, "first") for c in chats]
                      + [_update(2000 + c, c, "second") for c in chats[:5]])
    await proc.drain()  # the processor ran them: store them again, pending, to pick by hand
    async with sessionmaker() as s:
        await s.execute(update(InboxUpdate).values(state="pending", attempts=0))
        await s.commit()
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        got = await asyncio.gather(*(proc._picker.next(c) for c in chats))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(picks) == 1
    assert [g[1] if g else None for g in got] == [1000 + c for c in chats]
    assert [g[4] if g else None for g in got] == [c in chats[:5] for c in chats]
    assert {g[3] if g else None for g in got} == {1}  # each start counted


async def test_done_marks_of_chats_finishing_together_share_a_statement(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    """A handler that writes nothing leaves its done-mark to the processor: the marks of the
    chats that finish at the same moment are one statement, and every update ends done once."""
    marks: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE INBOX_UPDATES SET STATE"):
            marks.append(statement)

    seen: list[tuple[int, str]] = []
    proc = _processor(sessionmaker, bot, seen, workers=20)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await proc.ingest([_update(i, 500 + i) for i in range(1, 21)]) == 20
        await proc.drain()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert sorted(c for c, _ in seen) == [500 + i for i in range(1, 21)]
    assert 1 <= len(marks) <= 10, len(marks)  # 20 marks, at most half as many statements
    async with sessionmaker() as s:
        rows = (await s.scalars(select(InboxUpdate))).all()
    assert len(rows) == 20
    assert {r.state for r in rows} == {"done"} and all(r.processed_at for r in rows)


async def test_a_polled_update_object_is_fed_as_it_came(
    sessionmaker: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    """Polling hands in aiogram's objects with the payloads: the first run uses the object
    (no second validation); another stored update with the same number (Telegram's numbering
    restarted) is validated from its own payload."""
    got: list[Message] = []
    router = Router()

    async def keep(message: Message) -> None:
        got.append(message)

    router.message.register(keep)
    dp = Dispatcher()
    dp.include_router(router)
    proc = UpdateProcessor(dp, bot, sessionmaker, workers=2, clock=lambda: NOW)
    old = _update(2, 51, "left over")
    old["message"]["message_id"] = 99  # type: ignore[index]
    async with sessionmaker() as s:
        s.add(InboxUpdate(update_id=2, chat_id=51, payload=old, digest=digest_of(old),
                          state="pending", attempts=0, received_at=NOW))
        await s.commit()
    first = Update.model_validate(_update(1, 50, "one"), context={"bot": bot})
    second = Update.model_validate(_update(2, 51, "two"), context={"bot": bot})
    assert await proc.ingest([_update(1, 50, "one"), _update(2, 51, "two")],
                             parsed=[first, second]) == 2
    await proc.drain()
    assert [m.text for m in got if m.chat.id == 51] == ["left over", "two"]
    assert next(m for m in got if m.chat.id == 50) is first.message
    assert next(m for m in got if m.text == "two") is second.message
    assert next(m for m in got if m.text == "left over").message_id == 99
    assert not proc._parsed


def test_chat_of() -> None:
    assert chat_of(_update(1, 55)) == 55
    assert chat_of({"update_id": 1, "callback_query": {
        "id": "q", "from": {"id": 9}, "message": {"chat": {"id": -100}}}}) == -100
    assert chat_of({"update_id": 1, "inline_query": {"id": "q", "from": {"id": 9}}}) == 9
