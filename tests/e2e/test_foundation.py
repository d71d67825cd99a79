"""The bot through the emulator over HTTP: /start, /help, /lang, crashes, errors, 429."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.inbox import InboxUpdate
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp
from emulator import Emulator
from emulator.harness import crash
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock, start_bot


async def test_start_and_help_in_chinese(emu: Emulator, app: BotApp) -> None:
    user = emu.user(id=1001, first_name="王芳", language_code="zh-hans")
    await emu.send_text(user, "/start")
    reply = await emu.wait_for_bot_message(1001)
    assert "王芳，您好" in reply["text"] and "污染源普查" in reply["text"]
    await emu.send_text(user, "/help")
    help_msg = await emu.wait_for_bot_message(1001)
    assert "您可以使用的功能" in help_msg["text"]
    assert "/lang" in help_msg["text"] and "切换语言" in help_msg["text"]


async def test_start_and_help_in_english(emu: Emulator, app: BotApp) -> None:
    user = emu.user(id=1002, first_name="Anna", language_code="en-GB")
    await emu.send_text(user, "/start")
    reply = await emu.wait_for_bot_message(1002)
    assert reply["text"].startswith("Hello, Anna!")
    await emu.send_text(user, "/help")
    help_msg = await emu.wait_for_bot_message(1002)
    assert "What you can do" in help_msg["text"] and "Switch language" in help_msg["text"]


async def test_names_are_escaped(emu: Emulator, app: BotApp) -> None:
    user = emu.user(id=1003, first_name="<b>x</b>&", language_code="en")
    await emu.send_text(user, "/start")
    reply = await emu.wait_for_bot_message(1003)
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in reply["text"]


async def test_lang_switch_persists(emu: Emulator, app: BotApp) -> None:
    user = emu.user(id=1004, first_name="李雷", language_code="zh-hans")
    await emu.send_text(user, "/lang")
    menu = await emu.wait_for_bot_message(1004)
    await emu.click(user, menu, "lang:en")
    confirm = await emu.wait_for_bot_message(1004)
    assert confirm["text"] == "Language set to English."
    stored = emu.find_message(1004, menu["message_id"])
    assert stored is not None and not stored.reply_markup  # the choice closed the buttons
    await emu.send_text(user, "/help")
    assert "What you can do" in (await emu.wait_for_bot_message(1004))["text"]


async def test_help_shows_role_commands(emu: Emulator, app: BotApp, sqlite_url: str,
                                        clock: Clock) -> None:
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=clock())
        await s.commit()  # the test is the unit-of-work owner
    async with create_sessionmaker(engine)() as s:
        await users_service.grant_role(s, now=clock(), user_id=1005, role="office_head",
                                       unit_code="410100")
        await s.commit()  # the test is the unit-of-work owner
    await engine.dispose()
    user = emu.user(id=1005, first_name="Head", language_code="en")
    await emu.send_text(user, "/help")
    text = (await emu.wait_for_bot_message(1005))["text"]
    assert "/help" in text


async def test_crash_after_ack_is_processed_once_after_restart(
    emu: Emulator, sqlite_url: str
) -> None:
    """An update stored and confirmed, then the process dies before handling it: on restart
    it is handled exactly once, and Telegram redelivering it changes nothing."""
    clock = Clock(at("2018-10-08 09:00"))
    app = await start_bot(emu, sqlite_url, clock=clock)
    gate, entered = asyncio.Event(), asyncio.Event()

    async def stuck(message: Message) -> None:
        entered.set()
        await gate.wait()  # never released: the process "dies" here

    # Make /start hang in this first process only.
    app.dp.message.register(stuck, Command("start"))
    app.dp.message.handlers.insert(0, app.dp.message.handlers.pop())
    user = emu.user(id=2001, first_name="赵六", language_code="zh-hans")
    upd = await emu.send_text(user, "/start")
    engine = create_engine(sqlite_url)
    for _ in range(100):
        async with create_sessionmaker(engine)() as s:
            row = await s.scalar(select(InboxUpdate)
                                 .where(InboxUpdate.update_id == upd["update_id"]))
        if row is not None:
            break
        await asyncio.sleep(0.05)
    await engine.dispose()
    assert row is not None and row.state == "pending"
    # The process dies inside the handler: the update is stored and confirmed, not handled.
    # (Cancelling a task in the middle of a statement is no faithful crash on SQLite: the
    # cancelled cursor keeps the write lock in this process, where a dead process frees it.)
    await asyncio.wait_for(entered.wait(), 30)
    await crash(app)
    assert emu.bot_messages(2001) == []

    restarted = await start_bot(emu, sqlite_url, clock=clock)
    try:
        reply = await emu.wait_for_bot_message(2001)
        assert "赵六，您好" in reply["text"]
        await restarted.processor.ingest([upd])  # Telegram redelivers the same update
        await restarted.processor.drain()
        await asyncio.sleep(0.2)
        assert len(emu.bot_messages(2001)) == 1
        engine = create_engine(sqlite_url)
        async with create_sessionmaker(engine)() as s:
            states = (await s.scalars(select(InboxUpdate.state))).all()
        await engine.dispose()
        assert states == ["done"]
    finally:
        await restarted.stop()


async def test_handler_exception_gets_polite_reply_and_others_are_served(
    emu: Emulator, app: BotApp
) -> None:
    boom = Router(name="boom")

    async def explode(message: Message) -> None:
        raise RuntimeError("deliberate failure")

    boom.message.register(explode, Command("boom"))
    app.dp.include_router(boom)
    app.dp.sub_routers.insert(0, app.dp.sub_routers.pop())
    victim = emu.user(id=3001, first_name="A", language_code="en")
    other = emu.user(id=3002, first_name="B", language_code="zh-hans")
    await emu.send_text(victim, "/boom")
    await emu.send_text(other, "/start")
    apology = await emu.wait_for_bot_message(3001)
    assert "Sorry, something went wrong" in apology["text"]
    assert "RuntimeError" not in apology["text"] and "Traceback" not in apology["text"]
    assert "B，您好" in (await emu.wait_for_bot_message(3002))["text"]
    await emu.send_text(victim, "/start")
    assert "Hello, A!" in (await emu.wait_for_bot_message(3001))["text"]


async def test_429_is_waited_out(emu: Emulator, app: BotApp) -> None:
    user = emu.user(id=4001, first_name="C", language_code="en")
    emu.fail_next(method="sendMessage", kind="429", retry_after=1, count=1, chat_id=4001)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await emu.send_text(user, "/help")
    reply = await emu.wait_for_bot_message(4001, timeout=10)
    assert "What you can do" in reply["text"]
    assert loop.time() - started >= 1.0
    statuses = [r.status for r in emu.request_log
                if r.method == "sendMessage" and r.chat_id == 4001]
    assert statuses == [429, 200]


async def test_webhook_mode_checks_the_secret(emu: Emulator, sqlite_url: str) -> None:
    from aiohttp import ClientSession

    from bot.telegram.app import BotApp, build_dispatcher
    from bot.telegram.factory import create_bot
    from tests.e2e.harness import settings_for

    settings = settings_for(emu, sqlite_url, WEBHOOK_SECRET="s3cret-token", WEBHOOK_PORT=0,
                            WEBHOOK_HOST="127.0.0.1")
    app = BotApp(settings, create_bot(settings), build_dispatcher(settings, clock=Clock()))
    url = await app.start_webhook()
    try:
        user = emu.user(id=5001, first_name="Web", language_code="en")
        await emu.send_text(user, "/start")  # the emulator POSTs it with the secret header
        assert (await emu.wait_for_bot_message(5001))["text"].startswith("Hello, Web!")
        forged = {"update_id": 999999, "message": {
            "message_id": 1, "date": 0, "chat": {"id": 5001, "type": "private"},
            "from": {"id": 5001, "is_bot": False, "first_name": "X"}, "text": "/start"}}
        async with ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=forged, headers=headers) as resp:
                    assert resp.status == 401
        await asyncio.sleep(0.3)
        assert len(emu.bot_messages(5001)) == 1
    finally:
        await app.stop()


async def test_first_message_records_the_user(emu: Emulator, app: BotApp, sqlite_url: str) -> None:
    from bot.db.models.users import ChatUser

    user = emu.user(id=6001, first_name="新用户", language_code="zh-hans", username="newbie")
    await emu.send_text(user, "/help")
    await emu.wait_for_bot_message(6001)
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as s:
        row = await s.get(ChatUser, 6001)
    await engine.dispose()
    assert row is not None and (row.first_name, row.username) == ("新用户", "newbie")
    assert row.telegram_language == "zh-hans" and row.last_seen_at is not None
