"""Interviews (约谈): the "Schedule interview" button on a repeat offender's notice, or
/interview UNIT_CODE, then one message with who, when and the agreed actions."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CallbackDataError, InterviewOffer
from bot.config import Settings
from bot.db.models.org import Unit
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.shared.errors import DomainError
from bot.services.supervision import interviews as svc
from bot.services.supervision.config import load_config
from bot.services.supervision.orders import ISSUER_ROLES, issuing_office, local
from handlers.buttons import drop_buttons
from handlers.commands import N_, CommandInfo
from handlers.conversation import refuse_text

ORDER = 38
COMMANDS = (CommandInfo("interview", N_("Record an interview (约谈) and its agreed actions"),
                        roles=frozenset(ISSUER_ROLES), args="UNIT_CODE"),)


class InterviewForm(StatesGroup):
    """Waiting for the interview form of one unit."""

    form = State()


async def _start(session: AsyncSession, state: FSMContext, principal: Principal | None,
                 i18n: Translator, code: str) -> str:
    """Check the unit and the office; remember it; the prompt to show."""
    unit = await session.get(Unit, code.strip()[:32])
    if unit is None:
        raise DomainError("There is no unit with code %(code)s.", code=code.strip()[:32])
    if issuing_office(principal, unit) is None:
        raise DomainError("%(unit)s is not in your office's area: you can issue orders only "
                          "to units below your own office.", unit=unit.name)
    count = await svc.count_for(session, unit.code)
    await state.set_state(InterviewForm.form)
    await state.update_data(unit_code=unit.code)
    return render("supervision/interview_prompt.html.j2", i18n, unit=unit, count=count)


async def cmd_interview(message: Message, command: CommandObject, state: FSMContext,
                        session: AsyncSession, principal: Principal | None,
                        i18n: Translator) -> None:
    """/interview UNIT_CODE: ask for the form."""
    code = (command.args or "").strip()
    if not code:
        await message.answer(i18n("Write the unit's code: /interview UNIT_CODE"))
        return
    await message.answer(await _start(session, state, principal, i18n, code))


async def on_offer(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                   principal: Principal | None, i18n: Translator) -> None:
    """The button on a repeat offender's notice."""
    try:
        code = InterviewOffer.parse(callback.data).unit_code
    except CallbackDataError:
        await callback.answer()
        return
    prompt = await _start(session, state, principal, i18n, code)
    await callback.answer()
    await drop_buttons(callback)
    if isinstance(callback.message, Message):
        await callback.message.answer(prompt)


async def on_form(message: Message, state: FSMContext, session: AsyncSession,
                  principal: Principal | None, i18n: Translator, now: datetime,
                  settings: Settings) -> None:
    """Record the interview; its actions go to the unit as follow-ups."""
    code = str((await state.get_data()).get("unit_code") or "")
    try:
        out = await svc.schedule(session, principal=principal, unit_code=code,
                                 text=message.text or "", now=now,
                                 cfg=load_config(settings.data_dir))
    except DomainError as exc:
        await refuse_text(message, state, session, exc, i18n)
        return
    await state.clear()
    await message.answer(render(
        "supervision/interview_saved.html.j2", i18n, unit=out.unit, who=out.interview.who,
        when=local(out.interview.held_at),
        actions=[{"id": v.order.id, "text": v.order.text, "due": local(v.order.due_at)}
                 for v in out.actions]))


async def on_cancel(message: Message, state: FSMContext, i18n: Translator) -> None:
    """Leave without recording."""
    await state.clear()
    await message.answer(i18n("Nothing was sent."))


def create_router() -> Router:
    """Routes for /interview and the interview offer button."""
    router = Router(name=__name__)
    router.message.register(on_cancel, InterviewForm.form, Command("cancel"))
    router.message.register(on_form, InterviewForm.form, F.text, ~F.text.startswith("/"))
    router.message.register(cmd_interview, Command("interview"))
    router.callback_query.register(on_offer, F.data.startswith(InterviewOffer.head()))
    return router
