"""Census staff: bind the chat account to the roster (/bind, /unbind) and show a badge."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models.staff import Staff
from bot.db.models.verification import GENUINE
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import STAFF_ROLES
from bot.services.roster import badges, binding
from bot.services.roster.binding import CodePolicy
from bot.services.shared.errors import DomainError
from bot.services.verification import lookups as verification
from bot.services.verification.lookups import ROLE_LABELS
from handlers.commands import N_, CommandInfo

log = logging.getLogger(__name__)
ORDER = 45
COMMANDS = (
    CommandInfo("bind", N_("Census staff: link this chat account to your staff record")),
    CommandInfo("badge", N_("Show your badge with its QR code"), roles=STAFF_ROLES),
    CommandInfo("unbind", N_("Unlink this chat account from your staff record"),
                roles=frozenset({"enumerator", "supervisor", "liaison", "office_head"})),
)


class BindFlow(StatesGroup):
    """Waiting for the user's own contact or a one-time code."""

    waiting = State()


def code_policy(settings: Settings) -> CodePolicy:
    """Binding-code limits from the settings."""
    return CodePolicy(ttl=timedelta(hours=settings.binding_code_ttl_hours),
                      max_failures=settings.binding_max_failures,
                      lock=timedelta(minutes=settings.binding_lock_minutes), tz=settings.tz)


async def _bound_reply(message: Message, outcome: binding.BindOutcome, session: AsyncSession,
                       i18n: Translator) -> None:
    staff = outcome.staff
    chain = await verification.unit_chain(session, staff.unit_code)
    text = render("verify/bound.html.j2", i18n, staff=staff, already=outcome.already,
                  role=i18n(ROLE_LABELS.get(staff.role, staff.role)),
                  unit=" ".join(u.display_name(i18n.locale) for u in chain))
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


async def _redeem(message: Message, code: str, state: FSMContext, session: AsyncSession,
                  now: datetime, settings: Settings, i18n: Translator) -> None:
    user_id = message.from_user.id if message.from_user else message.chat.id
    try:
        outcome = await binding.redeem_code(session, now=now, user_id=user_id, code=code,
                                            key=settings.signing_key(),
                                            policy=code_policy(settings))
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    await state.clear()
    await _bound_reply(message, outcome, session, i18n)


async def cmd_bind(message: Message, command: CommandObject, state: FSMContext,
                   session: AsyncSession, now: datetime, settings: Settings,
                   i18n: Translator) -> None:
    """/bind [CODE]: bind with a code, or ask for the user's own contact."""
    if message.chat.type != "private":
        await message.answer(i18n("Please send /bind to me in a private chat."))
        return
    if (command.args or "").strip():
        await _redeem(message, command.args or "", state, session, now, settings, i18n)
        return
    user_id = message.from_user.id if message.from_user else message.chat.id
    current = await binding.bound_staff(session, user_id)
    if current is not None:
        await message.answer(i18n("Your account is already bound to staff ID %(staff_id)s. "
                                  "Send /unbind first if you want to bind another record.")
                             % {"staff_id": escape(current.staff_id)})
        return
    await state.set_state(BindFlow.waiting)
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=i18n("📱 Share my phone number"), request_contact=True)]],
        resize_keyboard=True, one_time_keyboard=True)
    await message.answer(
        i18n("To link this chat to your census staff record, press the button below to share "
             "your own phone number (the one on the roster). If your office gave you a binding "
             "code, send the code instead."), reply_markup=keyboard)


async def on_contact(message: Message, state: FSMContext, session: AsyncSession,
                     now: datetime, settings: Settings, i18n: Translator) -> None:
    """A shared contact: accepted only when it is the sender's own."""
    contact = message.contact
    if contact is None or message.from_user is None:
        return
    try:
        outcome = await binding.bind_by_contact(
            session, now=now, user_id=message.from_user.id, contact_user_id=contact.user_id,
            phone=contact.phone_number, tz=settings.tz)
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    await state.clear()
    await _bound_reply(message, outcome, session, i18n)


async def on_code_text(message: Message, state: FSMContext, session: AsyncSession,
                       now: datetime, settings: Settings, i18n: Translator) -> None:
    """A code typed while /bind waits."""
    await _redeem(message, message.text or "", state, session, now, settings, i18n)


async def cmd_unbind(message: Message, session: AsyncSession, now: datetime,
                     i18n: Translator) -> None:
    """/unbind: unlink this account from its staff record."""
    user_id = message.from_user.id if message.from_user else message.chat.id
    try:
        staff = await binding.unbind(session, now=now, user_id=user_id)
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    await message.answer(i18n("This chat account is no longer bound to staff ID %(staff_id)s. "
                              "Send /bind to bind again.")
                         % {"staff_id": escape(staff.staff_id)})


async def cmd_badge(message: Message, session: AsyncSession, now: datetime, settings: Settings,
                    bot_username: str, i18n: Translator) -> None:
    """/badge: the bound enumerator's or supervisor's badge card with its QR code."""
    user_id = message.from_user.id if message.from_user else message.chat.id
    staff: Staff | None = await binding.bound_staff(session, user_id)
    if staff is None:
        await message.answer(i18n("Your account is not bound to a staff record yet. Send /bind "
                                  "first."))
        return
    if staff.role not in STAFF_ROLES:
        await message.answer(i18n("Badges are for enumerators and supervisors."))
        return
    state = verification.status_of(staff, now.astimezone(settings.tz).date())
    if state != GENUINE:
        await message.answer(i18n("Your staff record is not active, so no badge can be shown. "
                                  "Please contact your county census office."))
        return
    try:
        token = badges.sign(staff.staff_id, settings.signing_key())
    except badges.TokenTooLong:
        await message.answer(i18n("Your staff ID is too long to fit in a badge QR code (at most "
                                  "46 letters, digits, '-' or '_'). Ask your county census "
                                  "office to give you a shorter staff ID; people can still "
                                  "check you with /verify."))
        return
    card = await verification.public_card(session, staff)
    data = badges.BadgeCard(
        staff_id=staff.staff_id, masked_name=card.masked_name,
        role=i18n(ROLE_LABELS.get(staff.role, staff.role)), unit=card.unit_names(i18n.locale),
        org=staff.org, valid_to=staff.valid_to, url=badges.badge_url(bot_username, token))
    png = await asyncio.to_thread(badges.render_card, data, i18n)
    await message.answer_photo(
        BufferedInputFile(png, filename=f"badge-{user_id}.png"),
        caption=i18n("Show this badge to the people you visit: scanning the QR code opens this "
                     "bot and confirms that you are genuine."))


def create_router() -> Router:
    """Routes for binding and badges."""
    router = Router(name=__name__)
    router.message.register(cmd_bind, Command("bind"))
    router.message.register(cmd_unbind, Command("unbind"))
    router.message.register(cmd_badge, Command("badge"))
    router.message.register(on_contact, F.contact, StateFilter(BindFlow.waiting, None))
    router.message.register(on_code_text, StateFilter(BindFlow.waiting), F.text,
                            ~F.text.startswith("/"))
    return router
