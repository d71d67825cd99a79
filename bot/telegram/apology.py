"""One polite apology, in the user's language, for an update the bot gave up on (parked)."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Dispatcher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.users import ChatUser
from bot.i18n import Catalogs, pick_locale
from bot.rendering import render

log = logging.getLogger(__name__)


def _addressee(payload: dict[str, Any]) -> tuple[int | None, int | None, str | None, str | None]:
    """(chat to answer, user id, Telegram language, callback query id) of an update."""
    for key in ("message", "edited_message", "callback_query"):
        value = payload.get(key)
        if not isinstance(value, dict):
            continue
        sender = value.get("from") or {}
        message = value.get("message") if key == "callback_query" else value
        chat = (message or {}).get("chat") or {}
        return (chat.get("id"), sender.get("id"), sender.get("language_code"),
                value.get("id") if key == "callback_query" else None)
    return None, None, None, None


async def apologise(bot: Bot, dispatcher: Dispatcher,
                    sessionmaker: async_sessionmaker[AsyncSession], update_id: int,
                    payload: dict[str, Any]) -> bool:
    """Tell the sender that their message could not be handled; True when it was sent."""
    chat_id, user_id, telegram_language, _query = _addressee(payload)
    if chat_id is None:
        return False
    chosen: str | None = None
    try:
        if user_id is not None:
            async with sessionmaker() as session:
                user = await session.get(ChatUser, int(user_id))
                chosen = user.language if user is not None else None
                await session.commit()
    except Exception as exc:  # the language is a nicety: the apology goes out regardless
        log.warning("apology for update %s: no user language (%s)", update_id,
                    type(exc).__name__)
    catalogs: Catalogs = dispatcher.workflow_data.get("catalogs") or Catalogs()
    t = catalogs.get(pick_locale(chosen, telegram_language))
    try:
        await bot.send_message(int(chat_id), render("common/error.html.j2", t, ref=update_id))
    except Exception as exc:
        log.warning("could not apologise for update %s: %s", update_id, type(exc).__name__)
        return False
    return True
