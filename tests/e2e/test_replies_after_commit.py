"""A reply that Telegram rate-limits (429, retry_after=35) never holds the database.

The handler's transaction commits before its reply leaves, so while one chat's reply waits out
its 35 s, another chat's update that needs the (SQLite) write lock is served at once.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.inbox import INBOX_DONE, INBOX_REPLYING, InboxUpdate
from bot.db.models.verification import StaffLookup
from emulator import Emulator
from emulator.harness import Clock, crash, start_bot
from tests.conftest import at

NOW = at("2018-10-08 09:00")
SLOW, OTHER = 6101, 6102


async def test_429_on_a_reply_does_not_block_another_chat(emu: Emulator, sqlite_url: str) -> None:
    """Chat A's /help reply is answered 429 retry_after=35; chat B's /verify is answered at once."""
    app = await start_bot(emu, sqlite_url, clock=Clock(NOW))
    engine = create_engine(sqlite_url)
    try:
        a = emu.user(id=SLOW, first_name="Slow", language_code="zh-hans")
        b = emu.user(id=OTHER, first_name="Other", language_code="zh-hans")
        emu.fail_next("sendMessage", "429", retry_after=35, count=1, chat_id=SLOW)
        await emu.send_text(a, "/help")
        # A's reply has been refused with 429 and is waiting out its 35 s.
        deadline = time.monotonic() + 10
        while not any(r.method.lower() == "sendmessage" and r.status == 429
                      for r in emu.request_log):
            assert time.monotonic() < deadline, "the bot never tried to answer chat A"
            await asyncio.sleep(0.05)
        started = time.monotonic()
        await emu.send_text(b, "/verify ZZ-410102-9999")  # a lookup writes: needs the lock
        reply = await emu.wait_for_bot_message(OTHER, timeout=10)
        waited = time.monotonic() - started
        assert "ZZ-410102-9999" in reply["text"]
        assert waited < 5, f"chat B waited {waited:.1f}s behind chat A's rate-limited reply"
        assert not emu.bot_messages(SLOW), "A's reply must still be waiting out its 429"
        async with create_sessionmaker(engine)() as s:
            states = dict((await s.execute(
                select(InboxUpdate.chat_id, InboxUpdate.state))).all())
            lookups = (await s.scalars(select(StaffLookup.user_id))).all()
        assert states[OTHER] == INBOX_DONE
        assert list(lookups) == [OTHER]
        # Nothing is lost: A's reply goes out once the 35 s are over, and A's update is done.
        late = await emu.wait_for_bot_message(SLOW, timeout=60)
        assert "/verify" in late["text"]
        await app.processor.drain()
        async with create_sessionmaker(engine)() as s:
            state = await s.scalar(select(InboxUpdate.state)
                                   .where(InboxUpdate.chat_id == SLOW))
        assert state == INBOX_DONE
    finally:
        await app.stop()
        await engine.dispose()


async def test_a_reply_cut_off_by_a_crash_after_its_commit_is_sent_after_restart(
        emu: Emulator, sqlite_url: str) -> None:
    """The process dies after /verify's lookup committed and before its reply left: the next
    start sends that very reply, once, and the lookup stays recorded once (no rerun)."""
    from aiogram.client.session.middlewares.base import BaseRequestMiddleware

    gate, entered = asyncio.Event(), asyncio.Event()

    class DieBeforeTheReply(BaseRequestMiddleware):
        async def __call__(self, make_request, bot, method):  # type: ignore[no-untyped-def]
            if type(method).__name__ == "SendMessage" and method.chat_id == OTHER:
                entered.set()
                await gate.wait()  # never released: the process "dies" here
            return await make_request(bot, method)

    app = await start_bot(emu, sqlite_url, clock=Clock(NOW))
    app.bot.session.middleware(DieBeforeTheReply())  # inside CommitBeforeSend: after the commit
    engine = create_engine(sqlite_url)
    try:
        b = emu.user(id=OTHER, first_name="Other", language_code="en")
        await emu.send_text(b, "/verify ZZ-410102-9999")
        await asyncio.wait_for(entered.wait(), 30)
        async with create_sessionmaker(engine)() as s:
            state, reply = (await s.execute(select(InboxUpdate.state, InboxUpdate.reply))).one()
        assert state == INBOX_REPLYING and reply is not None and reply["method"] == "SendMessage"
        await crash(app)
        assert emu.bot_messages(OTHER) == []

        restarted = await start_bot(emu, sqlite_url, clock=Clock(NOW))
        try:
            reply_msg = await emu.wait_for_bot_message(OTHER, timeout=15)
            assert "ZZ-410102-9999" in reply_msg["text"]
            await restarted.processor.drain()
            await asyncio.sleep(0.3)
            assert len(emu.bot_messages(OTHER)) == 1
            async with create_sessionmaker(engine)() as s:
                states = (await s.scalars(select(InboxUpdate.state))).all()
                lookups = (await s.scalars(select(StaffLookup.user_id))).all()
                left = (await s.scalars(select(InboxUpdate.reply))).all()
            assert list(states) == [INBOX_DONE] and list(left) == [None]
            assert list(lookups) == [OTHER]
        finally:
            await restarted.stop()
    finally:
        await engine.dispose()


async def test_only_the_reply_cut_off_is_sent_again(emu: Emulator, sqlite_url: str) -> None:
    """A handler that writes and then sends two messages; the process dies while the second is
    leaving. After restart the second arrives, the first is not sent twice, the write is kept."""
    from aiogram import Router
    from aiogram.client.session.middlewares.base import BaseRequestMiddleware
    from aiogram.filters import Command
    from aiogram.types import Message
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    gate, entered = asyncio.Event(), asyncio.Event()

    class DieBeforeTheSecond(BaseRequestMiddleware):
        async def __call__(self, make_request, bot, method):  # type: ignore[no-untyped-def]
            if getattr(method, "text", None) == "second":
                entered.set()
                await gate.wait()  # never released: the process "dies" here
            return await make_request(bot, method)

    async def two(message: Message, session: AsyncSession) -> None:
        await session.execute(text("UPDATE chat_users SET username = 'wrote' WHERE id = :u"),
                              {"u": OTHER})
        await message.answer("first")
        await message.answer("second")

    def with_two(app: object) -> None:
        router = Router(name="two")
        router.message.register(two, Command("two"))
        app.dp.include_router(router)  # type: ignore[attr-defined]
        app.dp.sub_routers.insert(0, app.dp.sub_routers.pop())  # type: ignore[attr-defined]

    app = await start_bot(emu, sqlite_url, clock=Clock(NOW))
    with_two(app)
    app.bot.session.middleware(DieBeforeTheSecond())
    engine = create_engine(sqlite_url)
    try:
        b = emu.user(id=OTHER, first_name="Other", language_code="en")
        await emu.send_text(b, "/two")
        await asyncio.wait_for(entered.wait(), 30)
        assert [m["text"] for m in emu.bot_messages(OTHER)] == ["first"]
        await crash(app)

        restarted = await start_bot(emu, sqlite_url, clock=Clock(NOW))
        with_two(restarted)
        try:
            await emu.wait_for_bot_message(OTHER, lambda m: m.get("text") == "second",
                                           timeout=15)
            await restarted.processor.drain()
            await asyncio.sleep(0.3)
            assert [m["text"] for m in emu.bot_messages(OTHER)] == ["first", "second"]
            async with create_sessionmaker(engine)() as s:
                name = await s.scalar(text("SELECT username FROM chat_users WHERE id = :u"),
                                      {"u": OTHER})
                states = (await s.scalars(select(InboxUpdate.state))).all()
            assert name == "wrote" and list(states) == [INBOX_DONE]
        finally:
            await restarted.stop()
    finally:
        await engine.dispose()
