"""Refusing a text a conversation asked for: say why, and keep asking only if it can be fixed."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.services.shared.errors import DomainError


async def refuse_text(message: Message, state: FSMContext, session: AsyncSession,
                      exc: DomainError, i18n: Translator) -> None:
    """Undo the attempt and say why; the conversation goes on only when the user can correct
    the text and send it again (`exc.retry`), otherwise it ends."""
    await session.rollback()
    await message.answer(exc.render(i18n))
    if not exc.retry:
        await state.clear()
