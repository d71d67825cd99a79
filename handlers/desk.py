"""The help desk in chat: answer a forwarded question (button, then the text; or a reply to the
forwarded message) and mark an exchange as a candidate FAQ entry."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CallbackDataError, DeskCandidate, DeskReply
from bot.i18n import Catalogs, Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.faqdesk import desk as faq_desk
from bot.services.shared.errors import DomainError

ORDER = 90


class DeskAnswer(StatesGroup):
    """A desk member is writing the answer to one exchange."""

    text = State()


def _exchange_id(data: str | None, kind: type[DeskReply | DeskCandidate]) -> int | None:
    """The exchange id in callback data, or None when malformed."""
    try:
        return kind.parse(data).exchange_id
    except CallbackDataError:
        return None


async def on_answer_button(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                           principal: Principal | None, i18n: Translator) -> None:
    """"Answer" pressed: check the member may answer, then ask for the text."""
    xid = _exchange_id(callback.data, DeskReply)
    if xid is None or principal is None:
        await callback.answer()
        return
    try:
        exchange = await faq_desk.check_can_answer(session, exchange_id=xid, principal=principal)
    except DomainError as exc:
        await callback.answer(exc.render(i18n), show_alert=True)
        if exc.gone and isinstance(callback.message, Message):
            await _close_answer(callback.message.bot, callback.message.chat.id,
                                callback.message.message_id, xid, i18n)
        return
    question_text = exchange.text
    await state.set_state(DeskAnswer.text)
    await state.update_data(exchange_id=xid, message_id=callback.message.message_id
                            if isinstance(callback.message, Message) else None)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(render("faq/desk_prompt.html.j2", i18n, id=xid,
                                             text=question_text))


async def _close_answer(bot: Bot | None, chat_id: int, message_id: int | None, xid: int,
                        i18n: Translator) -> None:
    """Take the Answer button off a question message (the FAQ candidate button stays)."""
    if bot is None or message_id is None:
        return
    try:
        await bot.edit_message_reply_markup(
            chat_id=chat_id, message_id=message_id,
            reply_markup=InlineKeyboardMarkup.model_validate(
                faq_desk.answered_keyboard(i18n, xid)))
    except TelegramBadRequest:
        pass  # already changed


async def _deliver(message: Message, xid: int, session: AsyncSession, principal: Principal,
                   i18n: Translator, catalogs: Catalogs, now: datetime) -> bool:
    """Record the answer and confirm; reply with the reason when it is refused."""
    try:
        await faq_desk.answer(session, now=now, catalogs=catalogs, exchange_id=xid,
                              principal=principal, text=message.text or "")
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return False
    await message.answer(render("faq/desk_sent.html.j2", i18n, id=xid))
    return True


async def on_answer_text(message: Message, state: FSMContext, session: AsyncSession,
                         principal: Principal | None, i18n: Translator, catalogs: Catalogs,
                         now: datetime) -> None:
    """The text written after pressing "Answer"."""
    data = await state.get_data()
    xid = data.get("exchange_id")
    if principal is None or not isinstance(xid, int):
        await state.clear()
        return
    try:
        faq_desk.clean_answer(message.text or "")
    except DomainError as exc:  # keep the state: they can send the text again
        await message.answer(exc.render(i18n))
        return
    await state.clear()
    if await _deliver(message, xid, session, principal, i18n, catalogs, now):
        await _close_answer(message.bot, message.chat.id, data.get("message_id"), xid, i18n)


async def on_cancel(message: Message, state: FSMContext, i18n: Translator) -> None:
    """/cancel while writing an answer."""
    await state.clear()
    await message.answer(render("faq/desk_cancelled.html.j2", i18n))


async def on_reply(message: Message, session: AsyncSession, principal: Principal | None,
                   i18n: Translator, catalogs: Catalogs, now: datetime) -> None:
    """A desk member replied to a forwarded question: that reply is the answer."""
    target = message.reply_to_message
    if principal is None or target is None or not principal.has_any(faq_desk.DESK_ROLES):
        raise SkipHandler
    xid = await faq_desk.exchange_for_message(session, chat_id=message.chat.id,
                                              message_id=target.message_id,
                                              text=target.text or target.caption)
    if xid is None:
        raise SkipHandler
    if await _deliver(message, xid, session, principal, i18n, catalogs, now):
        await _close_answer(message.bot, message.chat.id, target.message_id, xid, i18n)


async def on_candidate(callback: CallbackQuery, session: AsyncSession,
                       principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """Mark an exchange as a candidate FAQ entry."""
    xid = _exchange_id(callback.data, DeskCandidate)
    if xid is None or principal is None:
        await callback.answer()
        return
    added = await faq_desk.mark_candidate(session, now=now, exchange_id=xid,
                                          principal=principal)
    await callback.answer(i18n("Marked as a candidate FAQ entry.") if added
                          else i18n("Already marked as a candidate FAQ entry."))


def create_router() -> Router:
    """Desk buttons, the answer conversation and replies to forwarded questions."""
    router = Router(name=__name__)
    router.callback_query.register(on_answer_button, F.data.startswith(DeskReply.head()))
    router.callback_query.register(on_candidate, F.data.startswith(DeskCandidate.head()))
    router.message.register(on_cancel, Command("cancel"), StateFilter(DeskAnswer.text))
    router.message.register(on_answer_text, StateFilter(DeskAnswer.text), F.text,
                            ~F.text.startswith("/"))
    router.message.register(on_reply, F.chat.type == ChatType.PRIVATE, F.text,
                            F.reply_to_message.from_user.is_bot, StateFilter(None))
    return router
