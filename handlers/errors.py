"""The one error path: a domain error (a rule the user broke) is answered in the user's
language with its field and rule; anything else gets a polite reply and is recorded."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.inbox import mark_failed
from bot.i18n import Catalogs, Translator
from bot.rendering import render
from bot.services.shared.errors import DomainError

log = logging.getLogger(__name__)
ORDER = 0


async def _tell(update: Update, text: str, alert: str) -> None:
    """`text` as a reply to a message, or `alert` on the pressed button."""
    try:
        if update.message is not None:
            await update.message.answer(text)
        elif update.callback_query is not None:
            await update.callback_query.answer(alert, show_alert=True)
    except TelegramAPIError:
        log.warning("could not tell the user about the failure of update %s", update.update_id)


async def on_error(event: ErrorEvent, catalogs: Catalogs,
                   sessionmaker: async_sessionmaker[AsyncSession], **data: Any) -> bool:
    """A DomainError: its message to the user, the update handled. Anything else: log it
    with the update id, tell the user, and mark the update failed."""
    update = event.update
    t: Translator = data.get("i18n") or catalogs.get("zh_CN")
    if isinstance(event.exception, DomainError):
        text = event.exception.render(t)
        await _tell(update, text, text)
        return True
    log.error("handler failed on update %s", update.update_id, exc_info=event.exception)
    now: datetime | None = data.get("now")
    await _tell(update, render("common/error.html.j2", t, ref=update.update_id),
                t("Sorry, something went wrong."))
    if now is not None:
        await mark_failed(sessionmaker, update.update_id,
                          f"{type(event.exception).__name__}: {event.exception}", now)
    return True


def create_router() -> Router:
    """The errors router."""
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router
