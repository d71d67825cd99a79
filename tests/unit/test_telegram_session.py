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
