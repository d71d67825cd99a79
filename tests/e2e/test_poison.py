"""Poison updates (issue #11.2) and a restarted update numbering (#11.6), through the emulator.

A handler that keeps failing or hanging is retried a bounded number of times, then parked:
the user gets one apology in their language, the office sees it in `censusbot inbox parked`
and can requeue it. Restarting the demo (numbering from 1 again) on the same database loses
no message.
"""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.inbox import InboxUpdate
from bot.services.shared import inbox
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.e2e.harness import start_bot


def _install(app: BotApp, command: str, handler: object) -> None:
    router = Router(name=command)
    router.message.register(handler, Command(command))
    app.dp.include_router(router)
    app.dp.sub_routers.insert(0, app.dp.sub_routers.pop())


async def _rows(url: str) -> list[InboxUpdate]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as s:
            return list((await s.scalars(select(InboxUpdate).order_by(InboxUpdate.id))).all())
    finally:
        await engine.dispose()


async def test_a_failing_update_is_retried_then_parked_with_one_apology(
    emu: Emulator, sqlite_url: str
) -> None:
    app = await start_bot(emu, sqlite_url)
    calls: list[str] = []

    async def explode(message: Message) -> None:
        calls.append(message.text or "")
        raise RuntimeError("deliberate failure")

    try:
        _install(app, "boom", explode)
        user = emu.user(id=8101, first_name="坏", language_code="zh-hans")
        await emu.send_text(user, "/boom")
        apology = await emu.wait_for_bot_message(8101, timeout=30)
        assert "抱歉" in apology["text"] and "RuntimeError" not in apology["text"]
        await emu.send_text(user, "/start")  # the chat is not blocked behind it
        await emu.wait_for_bot_message(8101, timeout=30)
        await asyncio.sleep(0.5)
        assert len(emu.bot_messages(8101)) == 2  # one apology, one greeting
        assert len(calls) == 3  # CENSUSBOT_UPDATE_ATTEMPTS
        rows = await _rows(sqlite_url)
        assert [(r.state, r.attempts) for r in rows] == [("parked", 3), ("done", 1)]
        assert "RuntimeError: deliberate failure" in (rows[0].error or "")
        engine = create_engine(sqlite_url)
        async with create_sessionmaker(engine)() as s:
            listed = await inbox.parked(s)
            assert [p.update_id for p in listed] == [rows[0].update_id]
            assert await inbox.requeue(s, rows[0].id)
            await s.commit()
        await engine.dispose()
        for _ in range(100):  # the sweep runs it again (it fails again: parked again)
            if len(calls) == 6:
                break
            await asyncio.sleep(0.1)
        assert len(calls) == 6
    finally:
        await app.stop()


async def test_a_hanging_update_times_out_and_is_parked(emu: Emulator, sqlite_url: str) -> None:
    app = await start_bot(emu, sqlite_url, CENSUSBOT_UPDATE_TIMEOUT=0.5,
                          CENSUSBOT_UPDATE_ATTEMPTS=2)
    calls: list[str] = []

    async def hang(message: Message) -> None:
        calls.append(message.text or "")
        await asyncio.Event().wait()

    try:
        _install(app, "hang", hang)
        user = emu.user(id=8102, first_name="Slow", language_code="en")
        await emu.send_text(user, "/hang")
        apology = await emu.wait_for_bot_message(8102, timeout=30)
        assert "Sorry, something went wrong" in apology["text"]
        await asyncio.sleep(0.5)
        assert len(emu.bot_messages(8102)) == 1 and len(calls) == 2
        rows = await _rows(sqlite_url)
        assert rows[0].state == "parked" and "TimeoutError" in (rows[0].error or "")
    finally:
        await app.stop()


async def test_restarting_the_demo_on_the_same_database_loses_nothing(sqlite_url: str) -> None:
    for run in range(2):  # a fresh emulator numbers its updates from 1 again
        emu = Emulator(bot_username="census_test_bot")
        await emu.start()
        app = await start_bot(emu, sqlite_url)
        try:
            user = emu.user(id=8200 + run, first_name="Demo", language_code="en")
            for _ in range(3):
                await emu.send_text(user, "/start")
                await emu.wait_for_bot_message(user["id"], timeout=30)
            assert len(emu.bot_messages(user["id"])) == 3
        finally:
            await app.stop()
            await emu.stop()
    rows = await _rows(sqlite_url)
    assert [r.update_id for r in rows] == [1, 2, 3, 1, 2, 3]
    assert {r.state for r in rows} == {"done"}
