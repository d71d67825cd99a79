"""End-to-end tests: a real aiogram Bot talking HTTP to the Telegram Bot API emulator."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiohttp import web

from emulator import Emulator

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

APP_JS = Path(__file__).resolve().parents[2] / "demo" / "static" / "app.js"


def make_bot(emu: Emulator, token: str | None = None, **kwargs: Any) -> Bot:
    """Return an aiogram Bot whose session talks to the emulator."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    return Bot(token or emu.token, session=session, **kwargs)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A started emulator on a free port."""
    emulator = Emulator(bot_username="census_demo_bot")
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    """A real aiogram Bot bound to the emulator."""
    b = make_bot(emu)
    yield b
    await b.session.close()


@pytest.fixture
def user(emu: Emulator) -> dict[str, Any]:
    """A registered private user."""
    return emu.user(id=1001, first_name="张三", language_code="zh-hans")


async def test_get_me(bot: Bot, emu: Emulator) -> None:
    me = await bot.get_me()
    assert me.username == "census_demo_bot"
    assert me.is_bot and me.id == bot.id == emu.bot_id


async def test_unknown_token_is_unauthorized(emu: Emulator) -> None:
    other = make_bot(emu, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await other.get_me()
    finally:
        await other.session.close()


async def test_get_updates_offset_semantics(bot: Bot, emu: Emulator, user: dict) -> None:
    u1 = await emu.send_text(user, "/start")
    u2 = await emu.send_text(user, "hello")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [u1["update_id"], u2["update_id"]]
    assert updates[0].message is not None and updates[0].message.text == "/start"
    assert updates[0].message.from_user is not None
    assert updates[0].message.from_user.first_name == "张三"
    # without offset nothing is confirmed: same updates again
    assert len(await bot.get_updates(timeout=0)) == 2
    # limit honoured
    assert [u.update_id for u in await bot.get_updates(limit=1, timeout=0)] == [u1["update_id"]]
    # offset confirms everything below it
    rest = await bot.get_updates(offset=u2["update_id"], timeout=0)
    assert [u.update_id for u in rest] == [u2["update_id"]]
    assert await bot.get_updates(offset=u2["update_id"] + 1, timeout=0) == []
    assert emu.pending == []


async def test_get_updates_long_poll(bot: Bot, emu: Emulator, user: dict) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3

    async def later() -> None:
        await asyncio.sleep(0.2)
        await emu.send_text(user, "late")

    task = asyncio.create_task(later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    await task
    assert time.monotonic() - started < 2
    assert updates and updates[0].message is not None and updates[0].message.text == "late"


async def test_send_message_appears_in_history(bot: Bot, emu: Emulator, user: dict) -> None:
    await emu.send_text(user, "/start")
    markup = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="分享手机号", request_contact=True)]], resize_keyboard=True
    )
    sent = await bot.send_message(user["id"], "<b>你好</b> &amp; welcome", parse_mode="HTML",
                                  reply_markup=markup)
    assert sent.text == "你好 & welcome"  # Bot API returns plain text
    assert sent.from_user is not None and sent.from_user.username == "census_demo_bot"
    msgs = emu.messages(user["id"])
    assert [m["from_bot"] for m in msgs] == [False, True]
    assert msgs[1]["text"] == "<b>你好</b> &amp; welcome" and msgs[1]["parse_mode"] == "HTML"
    assert msgs[1]["message_id"] == sent.message_id == msgs[0]["message_id"] + 1
    button = msgs[1]["reply_markup"]["keyboard"][0][0]
    assert button["request_contact"] is True
    assert emu.reply_keyboard(user["id"]) is not None
    await bot.send_message(user["id"], "ok", reply_markup={"remove_keyboard": True})  # type: ignore[arg-type]
    assert emu.reply_keyboard(user["id"]) is None
    assert [r.text for r in emu.sent_log] == ["<b>你好</b> &amp; welcome", "ok"]
    reply = await bot.send_message(user["id"], "re", reply_to_message_id=msgs[0]["message_id"])
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "/start"


async def test_wait_for_bot_message(emu: Emulator, bot: Bot, user: dict) -> None:
    await emu.send_text(user, "/start")

    async def reply_later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(user["id"], "one")
        await bot.send_message(user["id"], "two")

    task = asyncio.create_task(reply_later())
    first = await emu.wait_for_bot_message(user["id"])
    second = await emu.wait_for_bot_message(user["id"])
    await task
    assert (first["text"], second["text"]) == ("one", "two")
    with pytest.raises(TimeoutError, match="recent messages"):
        await emu.wait_for_bot_message(user["id"], timeout=0.2)
    found = await emu.wait_for_bot_message(user["id"], lambda m: m["text"] == "one", after=0)
    assert found["message_id"] == first["message_id"]


async def test_validation_errors(bot: Bot, emu: Emulator, user: dict) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(user["id"], "x" * 4097)
    await bot.send_message(user["id"], "x" * 4096)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(user["id"], "  ")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hi")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(user["id"], "hi", reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]))
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(user["id"], BufferedInputFile(PNG_1x1, "p.png"), caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(user["id"], "1 < 2 <div>", parse_mode="HTML")
    assert len(emu.bot_messages(user["id"])) == 1


async def test_photo_document_and_download(bot: Bot, emu: Emulator, user: dict) -> None:
    photo = await bot.send_photo(user["id"], BufferedInputFile(PNG_1x1, "p.png"), caption="图")
    assert photo.photo and photo.photo[-1].width == 1
    doc = await bot.send_document(
        user["id"], BufferedInputFile(b"col1,col2\n1,2\n", "report.csv"), caption="报表"
    )
    assert doc.document is not None and doc.document.file_name == "report.csv"
    assert emu.file_bytes(doc.document.file_id) == b"col1,col2\n1,2\n"
    assert emu.file_bytes(photo.photo[-1].file_id) == PNG_1x1
    # re-send by file_id
    again = await bot.send_document(user["id"], doc.document.file_id)
    assert again.document is not None and again.document.file_id == doc.document.file_id
    # download through getFile + /file/bot<token>/<path>
    file = await bot.get_file(doc.document.file_id)
    assert file.file_path
    buf = io.BytesIO()
    await bot.download_file(file.file_path, buf)
    assert buf.getvalue() == b"col1,col2\n1,2\n"
    # a user upload can be downloaded by the bot too
    upd = await emu.send_document(user, "r.xlsx", b"PK\x03\x04fake")
    got = await bot.download(upd["message"]["document"]["file_id"])
    assert got is not None and got.read() == b"PK\x03\x04fake"
    kinds = [("photo" in m, "document" in m) for m in emu.bot_messages(user["id"])]
    assert kinds == [(True, False), (False, True), (False, True)]


async def test_edit_and_delete(bot: Bot, emu: Emulator, user: dict) -> None:
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]])
    sent = await bot.send_message(user["id"], "v1", reply_markup=kb)
    edited = await bot.edit_message_text(text="v2", chat_id=user["id"],
                                         message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "v2"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="v2", chat_id=user["id"], message_id=sent.message_id)
    await bot.edit_message_reply_markup(chat_id=user["id"], message_id=sent.message_id,
                                        reply_markup=kb)
    (msg,) = emu.bot_messages(user["id"])
    assert emu.bot_message_count(user["id"]) == 1  # an edit is no new message
    assert msg["text"] == "v2" and msg["reply_markup"] == kb.model_dump(exclude_none=True)
    assert [e["text"] for e in msg["edited"]] == ["v1", "v2"]
    assert msg["edit_date"]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=user["id"], message_id=999)
    assert await bot.delete_message(user["id"], sent.message_id)
    assert emu.bot_messages(user["id"]) == []
    assert emu.bot_message_count(user["id"]) == 0  # a deleted message is not counted
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(user["id"], sent.message_id)


async def test_callback_round_trip(bot: Bot, emu: Emulator, user: dict) -> None:
    kb = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="是", callback_data="confirm:yes")]]
    )
    await bot.send_message(user["id"], "确认?", reply_markup=kb)
    (msg,) = emu.bot_messages(user["id"])
    with pytest.raises(ValueError, match="no button"):
        await emu.click(user, msg, "confirm:no")
    upd = await emu.click(user, msg, "confirm:yes")
    (update,) = await bot.get_updates(timeout=0)
    cq = update.callback_query
    assert cq is not None and cq.data == "confirm:yes" and cq.id == upd["callback_query"]["id"]
    assert cq.message is not None and cq.message.message_id == msg["message_id"]
    assert await cq.answer("已确认")
    answer = await emu.wait_for_callback_answer(cq.id, timeout=1)
    assert answer["text"] == "已确认"
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(cq.id)


async def test_retry_after(bot: Bot, emu: Emulator, user: dict) -> None:
    emu.fail_next("sendMessage", kind="429", retry_after=7, count=2)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as info:
            await bot.send_message(user["id"], "hi")
        assert info.value.retry_after == 7
    await bot.send_message(user["id"], "hi")
    assert [r.status for r in emu.request_log] == [429, 429, 200]
    assert len(emu.sent_log) == 1


async def test_blocked_user_forbidden(bot: Bot, emu: Emulator, user: dict) -> None:
    emu.block(user["id"])
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(user["id"], "hi")
    emu.unblock(user["id"])
    await bot.send_message(user["id"], "hi")
    emu.fail_next("sendDocument", kind="403")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_document(user["id"], BufferedInputFile(b"x", "x.txt"))


async def test_server_errors_and_dropped_connection(bot: Bot, emu: Emulator, user: dict) -> None:
    emu.fail_next(None, kind="500")
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    emu.fail_next("sendMessage", kind="502", chat_id=user["id"])
    with pytest.raises(TelegramServerError):
        await bot.send_message(user["id"], "hi")
    emu.fail_next("sendMessage", kind="drop")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(user["id"], "hi")
    assert emu.sent_log == []
    await bot.send_message(user["id"], "hi")
    assert len(emu.sent_log) == 1


async def test_fault_rate_is_reproducible(emu: Emulator, bot: Bot, user: dict) -> None:
    async def pattern() -> list[bool]:
        emu.clear_faults()
        emu.fault_rate("sendMessage", kind="429", probability=0.3, seed=42)
        out = []
        for _ in range(30):
            try:
                await bot.send_message(user["id"], "x")
                out.append(True)
            except TelegramRetryAfter:
                out.append(False)
        return out

    first, second = await pattern(), await pattern()
    assert first == second and 0 < first.count(False) < 30


async def test_unknown_method_is_clear_error(bot: Bot, emu: Emulator) -> None:
    class NoSuchMethod(TelegramMethod[bool]):
        __returning__ = bool
        __api_method__ = "noSuchMethod"

    with pytest.raises(TelegramNotFound, match="method not found"):
        await bot(NoSuchMethod())


async def test_commands_chat_action_and_get_chat(bot: Bot, emu: Emulator, user: dict) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="开始")],
                              language_code="zh")
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["start"]
    assert await bot.get_my_commands() == []
    await bot.delete_my_commands(language_code="zh")
    assert await bot.get_my_commands(language_code="zh") == []
    assert await bot.send_chat_action(user["id"], "typing")
    assert emu.chat_actions == [(user["id"], "typing")]
    group = emu.group(-100123, "领导小组")
    chat = await bot.get_chat(group["id"])
    assert chat.title == "领导小组" and chat.type == "supergroup"


async def test_group_message_and_contact(bot: Bot, emu: Emulator, user: dict) -> None:
    group = emu.group(-100123, "领导小组")
    await emu.send_text(user, "hi all", chat=group)
    await emu.send_contact(user, phone="+8613800000000")
    await emu.send_location(user, 31.2, 121.5)
    updates = await bot.get_updates(timeout=0)
    assert [u.message.chat.id for u in updates if u.message] == [group["id"], 1001, 1001]
    contact = updates[1].message.contact if updates[1].message else None
    assert contact is not None and contact.user_id == 1001
    assert contact.phone_number == "+8613800000000"
    sent = await bot.send_message(group["id"], "收到")
    assert sent.message_id == 2 and sent.chat.type == "supergroup"


async def test_inline_query_answer(bot: Bot, emu: Emulator, user: dict) -> None:
    upd = await emu.inline_query(user, "工厂")
    (update,) = await bot.get_updates(timeout=0)
    assert update.inline_query is not None and update.inline_query.query == "工厂"
    await bot.answer_inline_query(update.inline_query.id, results=[], cache_time=1)
    assert emu.inline_answers[upd["inline_query"]["id"]]["results"] == []


async def test_webhook_delivery_with_secret(bot: Bot, emu: Emulator, user: dict) -> None:
    received: list[tuple[str | None, dict]] = []
    fail_first = [True]

    async def hook(request: web.Request) -> web.Response:
        if fail_first[0]:
            fail_first[0] = False
            return web.Response(status=500)
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                         await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        emu.webhook_retry_delay = 0.05
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        with pytest.raises(TelegramConflictError):
            await bot.get_updates(timeout=0)
        u1 = await emu.send_text(user, "/start")
        u2 = await emu.send_text(user, "second")
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)
        assert [(s, b["update_id"]) for s, b in received] == [
            ("s3cret", u1["update_id"]), ("s3cret", u2["update_id"])
        ]
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0
        assert info.last_error_message and "500" in info.last_error_message
        await bot.delete_webhook()
        await emu.send_text(user, "polling again")
        assert len(await bot.get_updates(timeout=0)) == 1
    finally:
        await runner.cleanup()


async def test_enforce_limits_produces_429(user: dict) -> None:
    limited = Emulator(enforce_limits=True)
    await limited.start()
    b = make_bot(limited)
    try:
        limited.user(id=1, first_name="A")
        statuses = []
        for _ in range(5):
            try:
                await b.send_message(1, "x")
                statuses.append(200)
            except TelegramRetryAfter as exc:
                assert exc.retry_after >= 1
                statuses.append(429)
        assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
        # global limit: 30/s across many private chats (a token bucket: 30 at once, then
        # 30 more each second, so the bound depends on how long the burst took here)
        for uid in range(100, 220):
            limited.user(id=uid, first_name="u")

        async def one(uid: int) -> bool:
            try:
                await b.send_message(uid, "y")
                return True
            except TelegramRetryAfter:
                return False

        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(*(one(uid) for uid in range(100, 220)))
        elapsed = loop.time() - started
        assert elapsed < 3.0, "the burst must be faster than the bucket refills 120 tokens"
        assert results.count(True) <= 30 + 30 * elapsed + 1
        assert results.count(False) >= 1
        # group: 20 per minute
        g = limited.group(-100500, "g")
        await asyncio.sleep(1.1)
        sent = 0
        for _ in range(25):
            try:
                await b.send_message(g["id"], "z")
                sent += 1
            except TelegramRetryAfter:
                pass
        assert sent == 20
    finally:
        await b.session.close()
        await limited.stop()


async def test_limits_off_by_default(bot: Bot, emu: Emulator, user: dict) -> None:
    for _ in range(40):
        await bot.send_message(user["id"], "fast")
    assert len(emu.sent_log) == 40


async def test_http_control_api(bot: Bot, emu: Emulator) -> None:
    persona = {"id": 2002, "first_name": "李四", "language_code": "zh-hans"}
    base = f"{emu.base_url}/_emu/chats/2002"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/send", json={"user": persona, "text": "/start"}) as r:
            assert r.status == 200
            update = (await r.json())["update"]
        (got,) = await bot.get_updates(timeout=0)
        assert got.update_id == update["update_id"] and got.message is not None
        assert got.message.text == "/start"
        kb = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]]
        )
        sent = await bot.send_message(2002, "<i>hi</i>", parse_mode="HTML", reply_markup=kb)
        async with http.get(f"{base}/messages", params={"after": "0"}) as r:
            body = await r.json()
        assert [m["text"] for m in body["messages"]] == ["/start", "<i>hi</i>"]
        rev = body["rev"]

        async def edit_later() -> None:
            await asyncio.sleep(0.2)
            await bot.edit_message_text(text="bye", chat_id=2002, message_id=sent.message_id)

        task = asyncio.create_task(edit_later())
        async with http.get(f"{base}/messages", params={"since": str(rev), "wait": "5"}) as r:
            changed = await r.json()
        await task
        assert [m["text"] for m in changed["messages"]] == ["bye"]
        payload = {"user": persona, "callback": {"message_id": sent.message_id, "data": "go"}}
        async with http.post(f"{base}/send", json=payload) as r:
            assert r.status == 400  # keyboard was removed by the edit
        async with http.post(f"{base}/send", json={"user": persona, "phone": "+8613900000000"}):
            pass
        form = aiohttp.FormData()
        form.add_field("user", json.dumps(persona))
        form.add_field("file", PNG_1x1, filename="p.png", content_type="image/png")
        async with http.post(f"{base}/send", data=form) as r:
            photo_update = (await r.json())["update"]
        updates = await bot.get_updates(offset=got.update_id + 1, timeout=0)
        assert updates[0].message is not None and updates[0].message.contact is not None
        assert updates[1].message is not None and updates[1].message.photo
        file_id = photo_update["message"]["photo"][-1]["file_id"]
        async with http.get(f"{emu.base_url}/_emu/file/{file_id}") as r:
            assert await r.read() == PNG_1x1
        async with http.get(f"{emu.base_url}/_emu/file/nope") as r:
            assert r.status == 404


async def test_aiogram_default_parse_mode_and_multipart(emu: Emulator, user: dict) -> None:
    b = make_bot(emu, default=DefaultBotProperties(parse_mode="HTML"))
    try:
        await b.send_document(user["id"], BufferedInputFile(b"abc", "a.txt"),
                              caption="<b>bold</b>")
    finally:
        await b.session.close()
    (msg,) = emu.bot_messages(user["id"])
    assert msg["caption"] == "<b>bold</b>" and msg["parse_mode"] == "HTML"


PERSONAS = [
    {
        "key": "public",
        "label": "公众 / Member of the public",
        "user": {"id": 3003, "first_name": "王五", "language_code": "zh-hans"},
        "phone": "+8613700000000",
    },
    {
        "key": "officer",
        "label": "普查员 / Census officer",
        "user": {"id": 3004, "first_name": "赵六", "language_code": "zh-hans"},
        "phone": "+8613600000000",
    },
]


async def test_webchat_standalone_app(emu: Emulator, bot: Bot) -> None:
    from demo.webchat import start_webchat

    runner = await start_webchat(emu, PERSONAS, port=0)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/") as r:
                page = await r.text()
            for marker in ('id="persona"', 'id="input"', 'id="send"',
                           "演示数据为合成数据 / Demo data is synthetic", "static/app.js"):
                assert marker in page
            for asset in ("app.js", "style.css"):
                async with http.get(f"{base}/static/{asset}") as r:
                    assert r.status == 200 and len(await r.text()) > 100
            async with http.get(f"{base}/personas.json") as r:
                data = await r.json()
            assert [p["key"] for p in data["personas"]] == ["public", "officer"]
            assert data["bot"]["username"] == "census_demo_bot"
            persona = PERSONAS[0]
            async with http.post(f"{base}/_emu/chats/3003/send",
                                 json={"user": persona["user"], "text": "你好"}) as r:
                assert r.status == 200
        (update,) = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.text == "你好"
    finally:
        await runner.cleanup()


async def test_webchat_on_emulator_port() -> None:
    from demo.webchat import setup_webchat

    emulator = Emulator()
    await emulator.start(configure=lambda app: setup_webchat(app, emulator, PERSONAS))
    b = make_bot(emulator)
    try:
        assert (await b.get_me()).username == "census_demo_bot"
        async with aiohttp.ClientSession() as http, http.get(f"{emulator.base_url}/") as r:
            assert r.status == 200 and 'id="persona"' in await r.text()
        assert 3004 in emulator.chats  # personas registered as users
    finally:
        await b.session.close()
        await emulator.stop()


def test_webchat_rejects_bad_personas(emu: Emulator) -> None:
    from demo.webchat import create_webchat_app

    with pytest.raises(ValueError, match=r"user\.id"):
        create_webchat_app(emu, [{"key": "x", "label": "X", "user": {"first_name": "x"}}])


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
async def test_webchat_html_sanitizer_with_node() -> None:
    script = APP_JS
    cases = {
        "plain": "a &lt;b&gt; &amp; c",
        "tags": '<b>粗</b><i>i</i><a href="https://x.org/?a=1&amp;b=2">l</a>',
        "bad": '<script>alert(1)</script><img src=x onerror=alert(1)><a href="javascript:x">j</a>',
        "spoiler": '<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">t</span>',
        "unclosed": "<b>open</i>",
    }
    js = (
        f"const {{parseTelegramHtml}} = require({json.dumps(str(script))});"
        f"const cases = {json.dumps(cases)};"
        "const out = {}; for (const k in cases) out[k] = parseTelegramHtml(cases[k]);"
        "process.stdout.write(JSON.stringify(out));"
    )
    proc = await asyncio.create_subprocess_exec(
        "node", "-e", js, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    got = json.loads(out)
    assert got["plain"] == ["a <b> & c"]
    assert got["tags"] == [
        {"tag": "b", "children": ["粗"]},
        {"tag": "i", "children": ["i"]},
        {"tag": "a", "href": "https://x.org/?a=1&b=2", "children": ["l"]},
    ]
    # disallowed tags are kept as literal (escaped) text, unsafe hrefs dropped
    assert got["bad"][0] == "<script>" and got["bad"][2] == "</script>"
    assert got["bad"][3].startswith("<img")
    assert got["bad"][4] == {"tag": "a", "children": ["j"]}
    assert [n["spoiler"] for n in got["spoiler"]] == [True, True]
    assert got["unclosed"] == [{"tag": "b", "children": ["open", "</i>"]}]


async def test_dispatcher_polling_end_to_end(emu: Emulator, bot: Bot, user: dict) -> None:
    from aiogram import Dispatcher, F
    from aiogram.filters import CommandStart
    from aiogram.types import CallbackQuery, Message

    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        kb = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="OK", callback_data="ok")]]
        )
        await message.answer("欢迎 <b>welcome</b>", parse_mode="HTML", reply_markup=kb)

    @dp.callback_query(F.data == "ok")
    async def ok(query: CallbackQuery) -> None:
        await query.answer("done")
        if query.message is not None:
            await bot.edit_message_text(text="已确认", chat_id=query.message.chat.id,
                                        message_id=query.message.message_id)

    polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False,
                                                   close_bot_session=False))
    try:
        await emu.send_text(user, "/start")
        welcome = await emu.wait_for_bot_message(user["id"])
        assert welcome["text"] == "欢迎 <b>welcome</b>"
        upd = await emu.click(user, welcome, "ok")
        assert (await emu.wait_for_callback_answer(upd["callback_query"]["id"]))["text"] == "done"
        for _ in range(100):
            if emu.bot_messages(user["id"])[0]["text"] == "已确认":
                break
            await asyncio.sleep(0.02)
        assert emu.bot_messages(user["id"])[0]["text"] == "已确认"
    finally:
        await dp.stop_polling()
        await polling
