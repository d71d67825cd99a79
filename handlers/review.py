"""/review: report versions waiting for review (审核), oldest first, each with Accept and Return
buttons (a return asks for comments on named fields); and the office's Answer button on a
"problems and needs" item."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Supervision
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.shared.errors import DomainError
from bot.services.supervision import problems, review
from bot.services.supervision.hooks import order_markup
from handlers.buttons import drop_buttons, markup, refuse, tail_id
from handlers.commands import N_, CommandInfo
from handlers.conversation import refuse_text
from handlers.orders import ask_in_writing

ORDER = 38
COMMANDS = (CommandInfo("review", N_("Reports waiting for your review: accept or return"),
                        roles=frozenset(review.REVIEWER_ROLES)),)
SHOWN = 10


class ReviewReturn(StatesGroup):
    """The reviewer is writing the comments of a return."""

    comment = State()


class ProblemAnswer(StatesGroup):
    """The office is writing its answer to a "problems and needs" item."""

    text = State()


async def cmd_review(message: Message, session: AsyncSession, principal: Principal | None,
                     i18n: Translator) -> None:
    """List waiting report versions in scope, oldest first, each with its buttons."""
    if principal is None or not principal.has_any(review.REVIEWER_ROLES):
        await message.answer(i18n("Report review is for census office heads."))
        return
    items = await review.waiting(session, principal)
    shown = [(w.review.id, w.context(i18n.locale)) for w in items[:SHOWN]]
    await message.answer(render("supervision/review_list.html.j2", i18n, total=len(items),
                                shown=len(shown)))
    for rid, ctx in shown:
        await message.answer(render("supervision/review_item.html.j2", i18n, **ctx),
                             reply_markup=markup(review.review_markup(rid)(i18n)))


async def on_accept(callback: CallbackQuery, session: AsyncSession,
                    principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """Accept: the version counts as accepted; the liaison hears it."""
    try:
        w = await review.accept(session, tail_id(callback), principal=principal, now=now)
    except DomainError as exc:
        await callback.answer(exc.render(i18n), show_alert=True)
        await drop_buttons(callback)
        return
    await callback.answer(i18n("Accepted."))
    await drop_buttons(callback)
    if isinstance(callback.message, Message):
        await callback.message.answer(render("supervision/review_done.html.j2", i18n,
                                             accepted=True, unit=w.unit, report=w.report))


async def on_return(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                    principal: Principal | None, i18n: Translator) -> None:
    """Return: ask for comments on named fields."""
    rid = tail_id(callback)
    try:
        w = await review.load(session, rid, principal)
    except DomainError as exc:
        await refuse(callback, exc, i18n)
        return
    fields = "、".join(f.label_for(i18n.locale) for f in w.template.fields) \
        if not i18n.locale.startswith("en") else ", ".join(f.label_en for f in w.template.fields)
    await ask_in_writing(callback, state, session, ReviewReturn.comment, {"review_id": rid},
                         render("supervision/review_prompt.html.j2", i18n, fields=fields,
                                unit=w.unit))


async def on_return_comment(message: Message, state: FSMContext, session: AsyncSession,
                            principal: Principal | None, i18n: Translator,
                            now: datetime) -> None:
    """Return the report with the comments; offer a one-tap order."""
    rid = int((await state.get_data()).get("review_id") or 0)
    try:
        w = await review.return_report(session, rid, principal=principal,
                                       text=message.text or "", now=now)
    except DomainError as exc:
        await refuse_text(message, state, session, exc, i18n)
        return
    await state.clear()
    await message.answer(
        render("supervision/review_done.html.j2", i18n, accepted=False, unit=w.unit,
               report=w.report),
        reply_markup=markup(order_markup("rev", w.unit.code,
                                         w.report.period_end.isoformat())(i18n)))


async def on_problem_answer(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                            principal: Principal | None, i18n: Translator) -> None:
    """Answer a "problems and needs" item: ask for the text."""
    iid = tail_id(callback)
    try:
        await problems.load(session, iid, principal)
    except DomainError as exc:
        await refuse(callback, exc, i18n)
        return
    await ask_in_writing(callback, state, session, ProblemAnswer.text, {"item_id": iid},
                         i18n("Write the answer to the unit as one message. "
                              "/cancel answers later."))


async def on_problem_text(message: Message, state: FSMContext, session: AsyncSession,
                          principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """Send the office's answer to the county."""
    iid = int((await state.get_data()).get("item_id") or 0)
    try:
        item = await problems.answer(session, iid, principal=principal,
                                     text=message.text or "", now=now)
    except DomainError as exc:
        await refuse_text(message, state, session, exc, i18n)
        return
    await state.clear()
    await message.answer(i18n("Answer sent to the unit (item #%(id)s).") % {"id": item.id})


async def on_cancel(message: Message, state: FSMContext, i18n: Translator) -> None:
    """Leave without sending."""
    await state.clear()
    await message.answer(i18n("Nothing was sent."))


def create_router() -> Router:
    """Routes for /review and the review and problem buttons."""
    router = Router(name=__name__)
    for st in (ReviewReturn.comment, ProblemAnswer.text):
        router.message.register(on_cancel, st, Command("cancel"))
    router.message.register(on_return_comment, ReviewReturn.comment, F.text,
                            ~F.text.startswith("/"))
    router.message.register(on_problem_text, ProblemAnswer.text, F.text,
                            ~F.text.startswith("/"))
    router.message.register(cmd_review, Command("review"))
    sv = Supervision.head()
    router.callback_query.register(on_accept, F.data.startswith(sv + "racc:"))
    router.callback_query.register(on_return, F.data.startswith(sv + "rret:"))
    router.callback_query.register(on_problem_answer, F.data.startswith(sv + "pans:"))
    return router
