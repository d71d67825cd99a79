"""Inline-button plumbing shared by the supervision handlers (orders, review, interviews):
the stored keyboard as aiogram's type, the object id a button carries, taking buttons off,
and refusing a button that can no longer act."""

from __future__ import annotations

from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.callbacks import CallbackDataError, Supervision
from bot.i18n import Translator
from bot.services.shared.errors import DomainError


def markup(data: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """A stored keyboard as aiogram's type."""
    return InlineKeyboardMarkup.model_validate(data) if data else None


def tail_id(callback: CallbackQuery) -> int:
    """The numeric id at the end of the callback data (0 when absent)."""
    try:
        return Supervision.parse(callback.data).object_id
    except CallbackDataError:
        return 0


async def drop_buttons(callback: CallbackQuery, keep: dict[str, Any] | None = None) -> None:
    """Take the buttons off the message that was pressed (or leave only `keep`)."""
    msg = callback.message
    if not isinstance(msg, Message):
        return
    now_shown = msg.reply_markup.model_dump(exclude_none=True) if msg.reply_markup else None
    wanted = markup(keep)
    if now_shown == (wanted.model_dump(exclude_none=True) if wanted else None):
        return  # pressed again: the buttons are already as they should be
    try:
        await msg.edit_reply_markup(reply_markup=wanted)
    except TelegramBadRequest:  # the message is too old to edit, or already changed
        pass


async def refuse(callback: CallbackQuery, exc: DomainError, i18n: Translator) -> None:
    """A button that can no longer act: say why in a pop-up and take its buttons off."""
    await callback.answer(exc.render(i18n), show_alert=True)
    await drop_buttons(callback)
