"""The bot's HTTP session keeps each method's parametrised Response type alive."""

from __future__ import annotations

import gc
import json
import weakref

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message

from bot.telegram.factory import TelegramSession

ANSWER = json.dumps({"ok": True, "result": {
    "message_id": 5, "date": 1538960400, "text": "hi", "chat": {"id": 1, "type": "private"}}})


async def test_response_type_is_built_once_and_kept() -> None:
    """After the first answer, `Response[Message]` survives garbage collection: later answers
    reuse it instead of building a new pydantic model class."""
    session = TelegramSession()
    bot = Bot("42:TEST", session=session)
    try:
        method = SendMessage(chat_id=1, text="hi")
        built = weakref.ref(type(session.check_response(bot, method, 200, ANSWER)))
        gc.collect()
        assert built() is not None  # nothing else holds the answer: the session keeps it
        again = session.check_response(bot, method, 200, ANSWER)
        assert type(again) is built() is Response[Message]
        assert isinstance(again.result, Message) and again.result.message_id == 5
    finally:
        await bot.session.close()


async def test_calls_without_files_go_as_json_and_uploads_as_multipart() -> None:
    """A reply with a keyboard is one JSON body holding what the form would have (nested
    objects as objects, the bot's default parse mode filled in, unset fields left out); a
    document upload is still aiogram's multipart form."""
    from aiogram.client.default import DefaultBotProperties
    from aiogram.methods import SendDocument
    from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
    from aiohttp import FormData, JsonPayload

    session = TelegramSession()
    bot = Bot("42:TEST", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    try:
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="确认", callback_data="rp:confirm")]])
        body = session.build_form_data(bot, SendMessage(chat_id=7, text="<b>已提交</b>",
                                                        reply_markup=keyboard))
        assert isinstance(body, JsonPayload)
        assert body.content_type == "application/json"
        sent = json.loads(body._value)
        assert sent == {"chat_id": 7, "text": "<b>已提交</b>", "parse_mode": "HTML",
                        "reply_markup": {"inline_keyboard": [[
                            {"text": "确认", "callback_data": "rp:confirm"}]]}}
        upload = session.build_form_data(bot, SendDocument(
            chat_id=7, document=BufferedInputFile(b"x" * 10, filename="a.xlsx")))
        assert isinstance(upload, FormData)
    finally:
        await bot.session.close()
