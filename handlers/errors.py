"""The last line of defence: an unexpected error gets a polite reply and is recorded."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import Catalogs, Translator
from bot.rendering import render
from bot.telegram.processor import mark_failed

log = logging.getLogger(__name__)
ORDER = 0


async def on_error(event: ErrorEvent, catalogs: Catalogs,
                   sessionmaker: async_sessionmaker[AsyncSession], **data: Any) -> bool:
    """Log the failure with the update id, tell the user, and mark the update failed."""
    update = event.update
    log.error("handler failed on update %s", update.update_id, exc_info=event.exception)
    t: Translator = data.get("i18n") or catalogs.get("zh_CN")
    now: datetime | None = data.get("now")
    text = render("common/error.html.j2", t, ref=update.update_id)
    try:
        if update.message is not None:
            await update.message.answer(text)
        elif update.callback_query is not None:
            await update.callback_query.answer(t("Sorry, something went wrong."), show_alert=True)
    except TelegramAPIError:
        log.warning("could not tell the user about the failure of update %s", update.update_id)
    if now is not None:
        await mark_failed(sessionmaker, update.update_id,
                          f"{type(event.exception).__name__}: {event.exception}", now)
    return True


def create_router() -> Router:
    """The errors router."""
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router
