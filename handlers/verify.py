"""Public identity checks: /verify ID, a bare staff ID, badge deep links, impostor reports."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CallbackDataError, VerifyFlow, VerifyReport
from bot.config import Settings
from bot.db.models.verification import FAILED_RESULTS, FORGED, GENUINE, REFUSED, UNKNOWN
from bot.i18n import Catalogs, Translator
from bot.rendering import render
from bot.services.roster import badges
from bot.services.shared.errors import DomainError
from bot.services.verification import impostor
from bot.services.verification import lookups as verification
from bot.services.verification.lookups import ROLE_LABELS, PublicCard, ReadStaff, Verdict
from handlers.commands import N_, CommandInfo

ORDER = 40
COMMANDS = (CommandInfo("verify", N_("Check that a census worker is genuine"), args=N_("ID")),)
FLOW_SKIP, FLOW_DONE = VerifyFlow("skip").pack(), VerifyFlow("done").pack()
FLOW_CANCEL, FLOW_URGENT = VerifyFlow("cancel").pack(), VerifyFlow("urgent").pack()


class ReportFlow(StatesGroup):
    """Impostor report: description, optional photo, optional location."""

    text = State()
    photo = State()
    location = State()


def card_context(card: PublicCard, i18n: Translator) -> dict[str, Any]:
    """Template variables for a public card in the reader's language."""
    return {
        "card": card,
        "role": i18n(ROLE_LABELS.get(card.role, card.role)),
        "unit": card.unit_names(i18n.locale),
        "valid_to": card.valid_to.isoformat() if card.valid_to
        else i18n("until the end of the census"),
    }


def render_verdict(verdict: Verdict, i18n: Translator) -> str:
    """The answer to a lookup, in the reader's language."""
    if verdict.result == REFUSED:
        return render("verify/refused.html.j2", i18n, limit=verdict.limit)
    if verdict.result in (UNKNOWN, FORGED) or verdict.card is None:
        return render("verify/unknown.html.j2", i18n, forged=verdict.result == FORGED,
                      query=verdict.query)
    ctx = card_context(verdict.card, i18n)
    if verdict.result == GENUINE:
        return render("verify/genuine.html.j2", i18n, **ctx)
    return render("verify/inactive.html.j2", i18n, result=verdict.result, **ctx)


def _report_button(verdict: Verdict, i18n: Translator) -> InlineKeyboardMarkup | None:
    if verdict.result not in FAILED_RESULTS or verdict.lookup_id is None:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=i18n("🚨 Report this person"), callback_data=VerifyReport(verdict.lookup_id).pack()
    )]])


async def _reply(message: Message, verdict: Verdict, i18n: Translator) -> None:
    await message.answer(render_verdict(verdict, i18n), reply_markup=_report_button(verdict, i18n))


async def _lookup(message: Message, text: str, session: AsyncSession, now: datetime,
                  settings: Settings, i18n: Translator, read_staff: ReadStaff | None) -> None:
    user_id = message.from_user.id if message.from_user else message.chat.id
    found = None  # read in the lookup's transaction unless read ahead with other lookups
    if read_staff is not None:
        found = await read_staff(verification.normalize_query(text))
    verdict = await verification.lookup(
        session, now=now, user_id=user_id, chat_id=message.chat.id, text=text,
        policy=verification.LookupPolicy.from_settings(settings), found=found)
    await _reply(message, verdict, i18n)


async def cmd_verify(message: Message, command: CommandObject, session: AsyncSession,
                     now: datetime, settings: Settings, i18n: Translator,
                     read_staff: ReadStaff | None = None) -> None:
    """/verify ID: check a staff ID."""
    if not (command.args or "").strip():
        await message.answer(i18n("Send /verify followed by the number on the worker's card, "
                                  "for example: /verify ZZ-410102-0001"))
        return
    await _lookup(message, command.args or "", session, now, settings, i18n, read_staff)


async def on_bare_id(message: Message, session: AsyncSession, now: datetime,
                     settings: Settings, i18n: Translator,
                     read_staff: ReadStaff | None = None) -> None:
    """A message that is just a staff ID."""
    await _lookup(message, message.text or "", session, now, settings, i18n, read_staff)


async def on_badge_link(message: Message, command: CommandObject, session: AsyncSession,
                        now: datetime, settings: Settings, i18n: Translator) -> None:
    """/start TOKEN from a scanned badge QR code."""
    user_id = message.from_user.id if message.from_user else message.chat.id
    verdict = await verification.verify_badge(
        session, now=now, user_id=user_id, chat_id=message.chat.id, token=command.args or "",
        key=settings.signing_key(), policy=verification.LookupPolicy.from_settings(settings))
    await _reply(message, verdict, i18n)


# ---------------------------------------------------------------- impostor report flow


def _flow_keyboard(i18n: Translator, *buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=text, callback_data=data) for text, data in buttons
    ]])


async def on_report_start(callback: CallbackQuery, state: FSMContext, i18n: Translator) -> None:
    """The report button under a failed check: ask for a description."""
    try:
        lookup_id = VerifyReport.parse(callback.data).lookup_id
    except CallbackDataError:
        await callback.answer()
        return
    await state.set_state(ReportFlow.text)
    await state.set_data({"lookup_id": lookup_id})
    await callback.answer()
    if callback.message is not None:
        await callback.message.answer(
            i18n("Please describe what happened: what the person looked like, what they said "
                 "or asked for, and where."),
            reply_markup=_flow_keyboard(i18n, (i18n("Cancel"), FLOW_CANCEL)))


async def on_report_text(message: Message, state: FSMContext, i18n: Translator) -> None:
    """The description; next, an optional photo."""
    await state.update_data(text=message.text or "")
    await state.set_state(ReportFlow.photo)
    await message.answer(
        i18n("If you have a photo (of the person or their card), send it now. Otherwise press "
             "Skip."),
        reply_markup=_flow_keyboard(i18n, (i18n("Skip"), FLOW_SKIP), (i18n("Cancel"), FLOW_CANCEL)))


async def _ask_location(message: Message, state: FSMContext, i18n: Translator,
                        callback: CallbackQuery | None = None) -> None:
    await state.set_state(ReportFlow.location)
    if callback is not None:  # answered after the state is written (the answer commits)
        await callback.answer()
    await message.answer(
        i18n("Send the location where it happened (📎 → Location), or press Done to send the "
             "report now."),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[
            [InlineKeyboardButton(text=i18n("Done"), callback_data=FLOW_DONE),
             InlineKeyboardButton(text=i18n("Cancel"), callback_data=FLOW_CANCEL)],
            [InlineKeyboardButton(text=i18n("🚨 Urgent: it is happening now"),
                                  callback_data=FLOW_URGENT)]]))


async def on_report_photo(message: Message, state: FSMContext, i18n: Translator) -> None:
    """The optional photo."""
    if message.photo:
        await state.update_data(photo=message.photo[-1].file_id)
    await _ask_location(message, state, i18n)


async def on_report_skip(callback: CallbackQuery, state: FSMContext, i18n: Translator) -> None:
    """Skip the photo."""
    if isinstance(callback.message, Message):
        await _ask_location(callback.message, state, i18n, callback)
    else:
        await callback.answer()


async def _submit(message: Message, user_id: int, state: FSMContext, session: AsyncSession,
                  now: datetime, catalogs: Catalogs, settings: Settings, i18n: Translator,
                  latitude: float | None = None, longitude: float | None = None,
                  urgent: bool = False, callback: CallbackQuery | None = None) -> None:
    """File the report and thank the reporter; a pressed button (`callback`) is answered once
    the report is filed, since answering commits the update's transaction."""
    text = await _file(message, user_id, state, session, now, catalogs, settings, i18n,
                       latitude, longitude, urgent)
    if callback is not None:
        await callback.answer()
    await message.answer(text)


async def _file(message: Message, user_id: int, state: FSMContext, session: AsyncSession,
                now: datetime, catalogs: Catalogs, settings: Settings, i18n: Translator,
                latitude: float | None, longitude: float | None, urgent: bool) -> str:
    data = await state.get_data()
    await state.clear()
    try:
        filed = await impostor.file_report(
            session, now=now, user_id=user_id, chat_id=message.chat.id,
            lookup_id=int(data.get("lookup_id") or 0), text=str(data.get("text") or ""),
            photo_file_id=data.get("photo"), latitude=latitude, longitude=longitude,
            catalogs=catalogs, tz=settings.tz, urgent=urgent)
    except DomainError as exc:
        return escape(exc.render(i18n))
    if filed.merged:
        text = i18n("Thank you. What you wrote was added to report #%(id)s, which the census "
                    "office already has.") % {"id": filed.report.id}
    elif filed.recipients:
        text = i18n("Thank you. Your report #%(id)s has been sent to the census office, which "
                    "will follow up.") % {"id": filed.report.id}
    else:
        text = i18n("Thank you. Your report #%(id)s has been recorded for the census office.") % {
            "id": filed.report.id}
    if filed.urgent_refused:
        text += "\n" + i18n("Only one report a day can be marked urgent, so this one reaches "
                            "the office after their quiet hours.")
    return text + "\n" + i18n("If you feel threatened, call the police (110).")


async def on_report_location(message: Message, state: FSMContext, session: AsyncSession,
                             now: datetime, catalogs: Catalogs, settings: Settings,
                             i18n: Translator) -> None:
    """The optional location: send the report."""
    loc = message.location
    user_id = message.from_user.id if message.from_user else message.chat.id
    await _submit(message, user_id, state, session, now, catalogs, settings, i18n,
                  loc.latitude if loc else None, loc.longitude if loc else None)


async def on_report_done(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                         now: datetime, catalogs: Catalogs, settings: Settings,
                         i18n: Translator) -> None:
    """Done: send the report without a location."""
    if isinstance(callback.message, Message):
        await _submit(callback.message, callback.from_user.id, state, session, now, catalogs,
                      settings, i18n, callback=callback)
    else:
        await callback.answer()


async def on_report_urgent(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                           now: datetime, catalogs: Catalogs, settings: Settings,
                           i18n: Translator) -> None:
    """Urgent: send the report now, even during the office's quiet hours (limited)."""
    if isinstance(callback.message, Message):
        await _submit(callback.message, callback.from_user.id, state, session, now, catalogs,
                      settings, i18n, urgent=True, callback=callback)
    else:
        await callback.answer()


async def on_report_cancel(callback: CallbackQuery, state: FSMContext, i18n: Translator) -> None:
    """Cancel the report."""
    await state.clear()
    await callback.answer()
    if callback.message is not None:
        await callback.message.answer(i18n("Report cancelled. Nothing was sent."))


async def on_report_other(message: Message, state: FSMContext, i18n: Translator) -> None:
    """Something unexpected during the report: say what is wanted at this step."""
    current = await state.get_state()
    if current == ReportFlow.text.state:
        text = i18n("Please describe what happened in words, or press Cancel.")
    elif current == ReportFlow.photo.state:
        text = i18n("Please send a photo, or press Skip.")
    else:
        text = i18n("Please send a location, or press Done.")
    await message.answer(text)


def create_router() -> Router:
    """Routes for public checks and impostor reports."""
    router = Router(name=__name__)
    not_command = ~F.text.startswith("/")
    router.message.register(on_badge_link, CommandStart(
        deep_link=True, magic=F.args.func(badges.looks_like_token)))
    router.message.register(cmd_verify, Command("verify"))
    router.callback_query.register(on_report_start, F.data.startswith(VerifyReport.head()))
    router.callback_query.register(on_report_cancel, F.data == FLOW_CANCEL,
                                   StateFilter(ReportFlow))
    router.callback_query.register(on_report_skip, F.data == FLOW_SKIP,
                                   StateFilter(ReportFlow.photo))
    router.callback_query.register(on_report_done, F.data == FLOW_DONE,
                                   StateFilter(ReportFlow.location))
    router.callback_query.register(on_report_urgent, F.data == FLOW_URGENT,
                                   StateFilter(ReportFlow.location))
    router.message.register(on_report_text, StateFilter(ReportFlow.text), F.text, not_command)
    router.message.register(on_report_photo, StateFilter(ReportFlow.photo), F.photo)
    router.message.register(on_report_location, StateFilter(ReportFlow.location), F.location)
    router.message.register(on_report_other, StateFilter(ReportFlow),
                            ~(F.text.startswith("/")))
    router.message.register(on_bare_id, StateFilter(None), F.text,
                            F.text.func(verification.is_bare_staff_id))
    return router
