"""Inbox hygiene and sharing: numbering resets, pruning, user upserts, two processors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models.inbox import InboxUpdate
from bot.db.models.users import ChatUser
from bot.services.access import users as users_service
from bot.services.shared import inbox
from bot.telegram.claims import claims_for
from bot.telegram.processor import UpdateProcessor
from tests.conftest import at

NOW = at("2018-10-08 09:00")


def _update(update_id: int, chat_id: int, text: str, date: int = 1538960400) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": date, "text": text,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "T"}}}


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    b = Bot("42:TEST")
    yield b
    await b.session.close()


def _processor(sessionmaker: async_sessionmaker[AsyncSession], bot: Bot,
               seen: list[tuple[int, str]], engine: AsyncEngine | None = None,
               delay: float = 0.0) -> UpdateProcessor:
    router = Router()

    async def record(message: Message) -> None:
        if delay:
            await asyncio.sleep(delay)
        seen.append((message.chat.id, message.text or ""))

    router.message.register(record)
    dp = Dispatcher()
    dp.include_router(router)
    return UpdateProcessor(dp, bot, sessionmaker, workers=4, clock=lambda: NOW,
                           claims=claims_for(engine) if engine is not None else None)


async def test_restarted_numbering_is_not_taken_for_redeliveries(
    sessionmaker: async_sessionmaker[AsyncSession], bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[int, str]] = []
    proc = _processor(sessionmaker, bot, seen)
    first = [_update(i, 7, f"first {i}") for i in (1, 2, 3)]
    assert await proc.ingest(first) == 3
    await proc.drain()
    assert await proc.ingest(first[:2]) == 0  # a redelivery is still a duplicate
    # Telegram's numbering starts again at 1 (a restarted demo, a new bot token...).
    again = [_update(i, 7, f"second {i}", date=1538960400 + 600) for i in (1, 2, 3)]
    assert await proc.ingest(again) == 3
    await proc.drain()
    assert [t for _, t in seen] == [f"first {i}" for i in (1, 2, 3)] + \
        [f"second {i}" for i in (1, 2, 3)]
    assert "numbering restarted" in caplog.text
    async with sessionmaker() as s:
        rows = (await s.execute(select(InboxUpdate.bot_id, InboxUpdate.state))).all()
    assert rows == [(42, "done")] * 6


async def test_prune_keeps_pending_and_recent_rows(
    sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    old, recent = NOW - timedelta(days=20), NOW - timedelta(days=2)
    async with sessionmaker() as s:
        s.add_all([
            InboxUpdate(update_id=1, chat_id=1, payload={}, state="done", attempts=1,
                        received_at=old, processed_at=old),
            InboxUpdate(update_id=2, chat_id=1, payload={}, state="parked", attempts=3,
                        received_at=old, processed_at=old, error="ValueError: x"),
            InboxUpdate(update_id=3, chat_id=1, payload={}, state="done", attempts=1,
                        received_at=recent, processed_at=recent),
            InboxUpdate(update_id=4, chat_id=1, payload={}, state="pending", attempts=0,
                        received_at=old),
        ])
        await s.commit()
    async with sessionmaker() as s:
        assert await inbox.prune(s, now=NOW, retention_days=14) == 2
        await s.commit()
    async with sessionmaker() as s:
        left = sorted((await s.scalars(select(InboxUpdate.update_id))).all())
    assert left == [3, 4]


async def test_parked_updates_are_listed_and_requeued(
    sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as s:
        row = InboxUpdate(update_id=9, chat_id=5, payload={"update_id": 9, "message": {}},
                          state="parked", attempts=3, received_at=NOW, processed_at=NOW,
                          error="RuntimeError: boom")
        s.add(row)
        await s.commit()
        row_id = row.id
    async with sessionmaker() as s:
        listed = await inbox.parked(s)
        assert [(p.id, p.update_id, p.kind, p.error) for p in listed] == \
            [(row_id, 9, "message", "RuntimeError: boom")]
        assert await inbox.requeue(s, row_id) is True
        assert await inbox.requeue(s, row_id + 100) is False
        await s.commit()
    async with sessionmaker() as s:
        again = await s.get(InboxUpdate, row_id)
        assert again is not None and (again.state, again.attempts) == ("pending", 0)


async def test_a_user_first_seen_by_two_processes_at_once(
    sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async def create() -> str:
        async with sessionmaker() as s:
            made = await users_service.ensure_many(
                s, now=NOW, people=[users_service.Seen(77, "并发", None, "zh-hans")])
            user = made[77]
            await asyncio.sleep(0.05)  # both transactions open at once
            await s.commit()
            return user.first_name

    assert await asyncio.gather(*(create() for _ in range(4))) == ["并发"] * 4
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count(ChatUser.id))) == 1


@pytest.mark.pg
async def test_two_processors_share_a_chat_in_order(pg_url: str, bot: Bot) -> None:
    from bot.db.engine import create_engine, create_sessionmaker

    engines = [create_engine(pg_url), create_engine(pg_url)]
    seen: list[tuple[int, str]] = []
    procs = [_processor(create_sessionmaker(e), bot, seen, engine=e, delay=0.01)
             for e in engines]
    try:
        # Two "processes" receive alternate messages of the same chats, as behind a balancer.
        for i in range(1, 41):
            await procs[i % 2].ingest([_update(i, 100 + i % 3, f"m{i}")])
        for _ in range(3):  # a chat one held when the other stored an update is tried again
            for p in procs:  # by the one that stored it: nothing needs waking from outside
                await p.drain()
        assert sorted(t for _, t in seen) == sorted(f"m{i}" for i in range(1, 41))
        for chat in (100, 101, 102):
            texts = [int(t[1:]) for c, t in seen if c == chat]
            assert texts == sorted(texts)
    finally:
        for p in procs:
            await p.stop()
        for e in engines:
            await e.dispose()


async def test_an_update_stored_while_another_process_holds_its_chat_is_run(
    pg_url: str, bot: Bot
) -> None:
    """Process A runs a chat's slow update; process B stores the chat's next update meanwhile
    and finds the chat claimed. Once A lets go the update runs (B tries its claim again
    shortly), with no sweep and no wake-up from outside."""
    from bot.db.engine import create_engine, create_sessionmaker

    engines = [create_engine(pg_url), create_engine(pg_url)]
    seen: list[str] = []
    holding, go_on = asyncio.Event(), asyncio.Event()

    def processor(engine: AsyncEngine) -> UpdateProcessor:
        router = Router()

        async def record(message: Message) -> None:
            if message.text == "slow":
                holding.set()
                await go_on.wait()
            seen.append(message.text or "")

        router.message.register(record)
        dp = Dispatcher()
        dp.include_router(router)
        return UpdateProcessor(dp, bot, create_sessionmaker(engine), workers=2,
                               clock=lambda: NOW, claims=claims_for(engine))

    a, b = processor(engines[0]), processor(engines[1])
    try:
        await a.ingest([_update(1, 500, "slow")])
        await asyncio.wait_for(holding.wait(), 10)
        await b.ingest([_update(2, 500, "next")])  # B's claim attempt fails: A holds 500
        await asyncio.sleep(0.3)
        assert seen == []
        go_on.set()
        await asyncio.wait_for(asyncio.gather(a.drain(), b.drain()), 1.5)
        assert seen == ["slow", "next"]
    finally:
        for p in (a, b):
            await p.stop()
        for e in engines:
            await e.dispose()
