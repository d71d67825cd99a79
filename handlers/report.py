"""/report: progress reports by guided conversation, quick form or spreadsheet.

Every path ends in a summary (with the change since the previous report) and a Confirm
button; nothing is saved before it. The draft lives in the database (report_drafts) and the
conversation state in the FSM storage, so a restart loses nothing. The rules live in
`bot.services.reports.entry`: each handler parses its input, calls the service once and renders
the step it returns; a DomainError goes to the one error handler (handlers/errors.py).
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CallbackDataError, ReportAction, ReportUnit
from bot.config import Settings
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.reports.entry import Entry
from bot.services.reports.steps import Button, Reply, Step
from handlers.commands import N_, CommandInfo

ORDER = 40
COMMANDS = (
    CommandInfo("report", N_("Submit your unit's progress report"),
                roles=frozenset({"liaison", "office_head"}), args=N_("[template|help]")),
)
T = TypeVar("T")


class ReportForm(StatesGroup):
    """The liaison is in a report: the draft's `stage` says what is expected next."""

    active = State()


# --------------------------------------------------------------------------- rendering


def _label(button: Button, i18n: Translator) -> str:
    if button.literal:
        return button.label
    text = i18n(button.label)
    return text % button.params if button.params else text


def _keyboard(rows: list[list[Button]] | None, i18n: Translator) -> InlineKeyboardMarkup | None:
    if rows is None:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=_label(b, i18n), callback_data=b.data) for b in row]
        for row in rows if row
    ])


def _text(reply: Reply, i18n: Translator) -> str:
    if reply.template is not None:
        return render(reply.template, i18n, **reply.context)
    assert reply.text is not None
    text = i18n(reply.text)
    return text % reply.params if reply.params else text


async def _state(session: AsyncSession, op: Awaitable[T]) -> T:
    """Run an FSM-storage call; it joins this update's transaction (`session`), which the
    context middleware commits, so nothing is committed here."""
    return await op


async def _save_state(step: Step, session: AsyncSession, state: FSMContext) -> None:
    """The conversation state a step asks for, in the update's transaction (before any Bot
    API call: each one commits that transaction, so state written after one would need a
    second transaction, and a crash between the two would lose it)."""
    if step.error is not None:
        return
    if step.fsm == "active":
        await _state(session, state.set_state(ReportForm.active))
        if step.fsm_data is not None:
            await _state(session, state.update_data(**step.fsm_data))
    elif step.fsm == "clear":
        await _state(session, state.clear())


async def _send(step: Step, message: Message, i18n: Translator,
                then: Callable[[], Awaitable[object]] | None = None) -> None:
    """Buttons off, then the replies in order (or the rule a button broke, as a message);
    `then` (a button's answer) right after the first of them."""
    sends: list[Callable[[], Awaitable[object]]]
    if step.error is not None:
        sends = [partial(message.answer, step.error.render(i18n))]
    else:
        sends = ([partial(message.edit_reply_markup, reply_markup=None)]
                 if step.clear_markup else [])
        sends += [partial(_reply, reply, message, i18n) for reply in step.replies]
    if then is not None:
        sends.insert(min(1, len(sends)), then)
    for send in sends:
        await send()


async def _reply(reply: Reply, message: Message, i18n: Translator) -> None:
    if reply.document is not None:
        doc = reply.document
        await message.answer_document(BufferedInputFile(doc.content, filename=doc.filename),
                                      caption=render(doc.caption_template, i18n))
    else:
        await message.answer(_text(reply, i18n), reply_markup=_keyboard(reply.keyboard, i18n))


async def _apply(step: Step, message: Message, session: AsyncSession, state: FSMContext,
                 i18n: Translator) -> None:
    """Carry out a step: conversation state, then buttons off and the replies."""
    await _save_state(step, session, state)
    await _send(step, message, i18n)


def _entry(session: AsyncSession, principal: Principal | None, i18n: Translator, locale: str,
           settings: Settings, now: datetime) -> Entry:
    return Entry(session, principal, locale=locale, t=i18n, tz=settings.tz, now=now)


# --------------------------------------------------------------------------- handlers


async def cmd_report(message: Message, command: CommandObject, session: AsyncSession,
                     state: FSMContext, principal: Principal | None, i18n: Translator,
                     locale: str, settings: Settings, now: datetime) -> None:
    """Start a report: resume a draft, choose the unit, or take a quick form / template."""
    entry = _entry(session, principal, i18n, locale, settings, now)
    step = await entry.command(command.args or "")
    await _apply(step, message, session, state, i18n)


async def on_text(message: Message, session: AsyncSession, state: FSMContext,
                  principal: Principal | None, i18n: Translator, locale: str,
                  settings: Settings, now: datetime) -> None:
    """A message while a report is open: the value asked for, or the reason for a decrease."""
    entry = _entry(session, principal, i18n, locale, settings, now)
    step = await entry.text(message.text or "")
    await _apply(step, message, session, state, i18n)


async def on_button(callback: CallbackQuery, session: AsyncSession, state: FSMContext,
                    principal: Principal | None, i18n: Translator, locale: str,
                    settings: Settings, now: datetime) -> None:
    """Back, keep, skip, edit, resume, restart, confirm, nf, cancel."""
    message = callback.message
    try:
        pressed = ReportAction.parse(callback.data)
    except CallbackDataError:
        pressed = None
    if pressed is None or not isinstance(message, Message) or principal is None:
        await callback.answer()
        return
    entry = _entry(session, principal, i18n, locale, settings, now)
    step = await entry.button(pressed.action)
    if step.alert:
        await callback.answer(i18n(step.alert), show_alert=True)
        return
    await _save_state(step, session, state)  # with the step's work
    # The first reply leaves with the step's commit (stored with the update's mark, one write);
    # the button's answer follows it at once.
    await _send(step, message, i18n, then=callback.answer)


async def on_unit_chosen(callback: CallbackQuery, session: AsyncSession, state: FSMContext,
                         principal: Principal | None, i18n: Translator, locale: str,
                         settings: Settings, now: datetime) -> None:
    """A unit button: rpg (guided), rpq (the quick form waiting in the FSM), rpx (template),
    rpn (a reminder's "report now": guided)."""
    message = callback.message
    try:
        choice = ReportUnit.parse(callback.data)
    except CallbackDataError:
        choice = None
    if choice is None or not isinstance(message, Message) or principal is None:
        await callback.answer()
        return
    quick = ""
    if choice.kind == "q":
        quick = str((await _state(session, state.get_data())).get("quick", ""))
    entry = _entry(session, principal, i18n, locale, settings, now)
    step = await entry.unit_chosen(choice, quick)
    await _save_state(step, session, state)  # with the step's work
    # The first reply leaves with the step's commit (stored with the update's mark, one write);
    # the button's answer follows it at once.
    await _send(step, message, i18n, then=callback.answer)


def _is_xlsx(message: Message) -> bool:
    doc = message.document
    return doc is not None and (doc.file_name or "").lower().endswith((".xlsx", ".xlsm"))


async def on_document(message: Message, bot: Bot, session: AsyncSession, state: FSMContext,
                      principal: Principal | None, i18n: Translator, locale: str,
                      settings: Settings, now: datetime) -> None:
    """A filled-in report spreadsheet: read it and show the summary to confirm."""
    doc = message.document
    assert doc is not None
    entry = _entry(session, principal, i18n, locale, settings, now)
    refusal = await entry.upload_refusal(doc.file_size)
    if refusal is not None:
        await _apply(refusal, message, session, state, i18n)
        return
    buf = io.BytesIO()
    await bot.download(doc.file_id, destination=buf)
    step = await entry.upload(buf.getvalue())
    await _apply(step, message, session, state, i18n)


async def on_cancel(message: Message, session: AsyncSession, state: FSMContext,
                    principal: Principal | None, i18n: Translator, locale: str,
                    settings: Settings, now: datetime) -> None:
    """/cancel at any prompt of a report: the draft is discarded, nothing is saved."""
    step = await _entry(session, principal, i18n, locale, settings, now).cancel()
    await _apply(step, message, session, state, i18n)


def create_router() -> Router:
    """Routes for /report, its buttons, values typed in, and uploaded spreadsheets."""
    router = Router(name=__name__)
    router.message.register(on_cancel, ReportForm.active, Command("cancel"))
    router.message.register(cmd_report, Command("report"))
    router.callback_query.register(on_button, F.data.startswith(ReportAction.head()))
    router.callback_query.register(on_unit_chosen, F.data.func(ReportUnit.matches))
    router.message.register(on_document, F.document, _is_xlsx)
    router.message.register(on_text, ReportForm.active, F.text, ~F.text.startswith("/"))
    return router
