"""Office heads: staff details, suspend/revoke/reinstate, binding codes, lookups and reports."""

from __future__ import annotations

import secrets
from datetime import datetime
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CallbackDataError, ImpostorHandled, StaffCancel, StaffConfirm
from bot.config import Settings
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import OFFICE_ROLES, Principal
from bot.services.roster import binding
from bot.services.shared.errors import DomainError
from bot.services.verification import impostor
from bot.services.verification import lookups as verification
from bot.services.verification.lookups import RESULT_LABELS, ROLE_LABELS, STATUS_LABELS
from handlers.commands import N_, CommandInfo
from handlers.staff import code_policy

ORDER = 46
COMMANDS = (
    CommandInfo("staff", N_("Full staff record of someone in your units"), roles=OFFICE_ROLES,
                args=N_("ID")),
    CommandInfo("suspend", N_("Suspend a staff member at once"), roles=OFFICE_ROLES, args=N_("ID")),
    CommandInfo("revoke", N_("Revoke a staff member at once"), roles=OFFICE_ROLES, args=N_("ID")),
    CommandInfo("reinstate", N_("Reinstate a suspended or revoked staff member"),
                roles=OFFICE_ROLES, args=N_("ID")),
    CommandInfo("code", N_("Issue a one-time binding code for a staff member"),
                roles=OFFICE_ROLES, args=N_("ID")),
    CommandInfo("lookups", N_("This week's identity checks and open impostor reports"),
                roles=OFFICE_ROLES),
)
ACTIONS = {"suspend": "suspended", "revoke": "revoked", "reinstate": "active"}
PROMPTS = {
    "suspend": N_("Suspend staff %(staff_id)s (%(name)s)? Public checks will say the ID is "
                  "suspended from now on."),
    "revoke": N_("Revoke staff %(staff_id)s (%(name)s)? Public checks will say the ID is "
                 "revoked, and their chat binding ends."),
    "reinstate": N_("Reinstate staff %(staff_id)s (%(name)s)? Public checks will say the ID is "
                    "genuine again."),
}
DONE = {
    "suspended": N_("Staff %(staff_id)s is suspended, effective now."),
    "revoked": N_("Staff %(staff_id)s is revoked, effective now."),
    "active": N_("Staff %(staff_id)s is active again."),
}


def _is_office(principal: Principal | None) -> bool:
    return principal is not None and principal.has_any(OFFICE_ROLES)


async def _deny(message: Message, i18n: Translator) -> None:
    await message.answer(i18n("This command is for census office heads."))


async def cmd_staff(message: Message, command: CommandObject, principal: Principal | None,
                    session: AsyncSession, now: datetime, i18n: Translator) -> None:
    """/staff ID: the full record, for an office head of the staff member's unit."""
    if not _is_office(principal) or principal is None:
        await _deny(message, i18n)
        return
    if not (command.args or "").strip():
        await message.answer(i18n("Send the staff ID after the command, e.g. /staff "
                                  "ZZ-410102-0001"))
        return
    try:
        staff, _unit = await binding.staff_details(session, now=now, principal=principal,
                                                   staff_id=command.args or "")
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    chain = await verification.unit_chain(session, staff.unit_code)
    await message.answer(render(
        "verify/staff_details.html.j2", i18n, staff=staff,
        role=i18n(ROLE_LABELS.get(staff.role, staff.role)),
        unit=" ".join(u.display_name(i18n.locale) for u in chain),
        valid_to=staff.valid_to.isoformat() if staff.valid_to
        else i18n("until the end of the census"),
        status=i18n(STATUS_LABELS.get(staff.status, staff.status))))


async def cmd_status_change(message: Message, command: CommandObject, state: FSMContext,
                            principal: Principal | None, session: AsyncSession,
                            i18n: Translator) -> None:
    """/suspend, /revoke, /reinstate ID: ask for confirmation first."""
    if not _is_office(principal) or principal is None:
        await _deny(message, i18n)
        return
    action = (command.command or "").lower()
    if not (command.args or "").strip():
        await message.answer(i18n("Send the staff ID after the command, e.g. /staff "
                                  "ZZ-410102-0001"))
        return
    try:
        staff, _unit = await binding.office_staff(session, principal, command.args or "")
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    nonce = secrets.token_hex(4)
    data = await state.get_data()
    pending = dict(data.get("staff_actions") or {})
    pending[nonce] = [action, staff.staff_id]
    await state.update_data(staff_actions=dict(list(pending.items())[-10:]))
    kb = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=i18n("Confirm"), callback_data=StaffConfirm(nonce).pack()),
        InlineKeyboardButton(text=i18n("Cancel"), callback_data=StaffCancel(nonce).pack()),
    ]])
    await message.answer(i18n(PROMPTS[action]) % {"staff_id": escape(staff.staff_id),
                                                   "name": escape(staff.name)}, reply_markup=kb)


def _nonce(data: str | None, kind: type[StaffConfirm | StaffCancel]) -> str:
    """The pending change's nonce ("" when malformed: no such change)."""
    try:
        return kind.parse(data).nonce
    except CallbackDataError:
        return ""


async def on_confirm(callback: CallbackQuery, state: FSMContext, principal: Principal | None,
                     session: AsyncSession, now: datetime, i18n: Translator) -> None:
    """The confirmation button: apply the status change (authority is checked again)."""
    nonce = _nonce(callback.data, StaffConfirm)
    data = await state.get_data()
    pending = dict(data.get("staff_actions") or {})
    entry = pending.pop(nonce, None)
    await state.update_data(staff_actions=pending)
    if entry is None or principal is None:
        await callback.answer(i18n("This confirmation has expired. Send the command again."),
                              show_alert=True)
        return
    action, staff_id = entry
    staff, _previous = await binding.set_status(session, now=now, principal=principal,
                                                staff_id=staff_id, status=ACTIONS[action])
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)
        await callback.message.answer(
            i18n(DONE[staff.status]) % {"staff_id": escape(staff.staff_id)})


async def on_cancel(callback: CallbackQuery, state: FSMContext, i18n: Translator) -> None:
    """Cancel a pending status change."""
    nonce = _nonce(callback.data, StaffCancel)
    data = await state.get_data()
    pending = dict(data.get("staff_actions") or {})
    pending.pop(nonce, None)
    await state.update_data(staff_actions=pending)
    await callback.answer(i18n("Cancelled. Nothing was changed."))
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)


async def cmd_code(message: Message, command: CommandObject, principal: Principal | None,
                   session: AsyncSession, now: datetime, settings: Settings,
                   i18n: Translator) -> None:
    """/code ID: a one-time binding code for a staff member of the head's units."""
    if not _is_office(principal) or principal is None:
        await _deny(message, i18n)
        return
    if not (command.args or "").strip():
        await message.answer(i18n("Send the staff ID after the command, e.g. /code "
                                  "ZZ-410102-0001"))
        return
    try:
        code, staff = await binding.issue_code_for_office(
            session, now=now, principal=principal, staff_id=command.args or "",
            key=settings.signing_key(), policy=code_policy(settings))
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    await message.answer(
        i18n("Binding code for %(staff_id)s (%(name)s): %(code)s\nValid for %(hours)s hours, "
             "single use; any earlier code for this person no longer works. Give it to them "
             "in person; they send /bind followed by the code.")
        % {"staff_id": escape(staff.staff_id), "name": escape(staff.name),
           "code": f"<code>{binding.format_code(code)}</code>",
           "hours": settings.binding_code_ttl_hours})


async def cmd_lookups(message: Message, principal: Principal | None, session: AsyncSession,
                      now: datetime, settings: Settings, i18n: Translator) -> None:
    """/lookups: the week's checks by result and the open impostor reports of the units."""
    if not _is_office(principal) or principal is None:
        await _deny(message, i18n)
        return
    grants = principal.units_for(OFFICE_ROLES)
    paths = [g.unit_path for g in grants]
    summary = await verification.office_summary(
        session, now=now, unit_paths=paths,
        include_unknown=any(p.count("/") == 2 for p in paths), locale=i18n.locale)
    counts = [(i18n(RESULT_LABELS.get(r, r)), n) for r, n in sorted(summary.counts.items())]
    reports = [{"id": r.id, "claimed_id": r.claimed_id, "text": r.text[:120],
                "at": r.created_at.astimezone(settings.tz).strftime("%m-%d %H:%M")}
               for r in summary.open_reports]
    await message.answer(render("verify/lookups.html.j2", i18n, units=" · ".join(
        summary.unit_names), counts=counts, reports=reports))


async def on_handled(callback: CallbackQuery, principal: Principal | None,
                     session: AsyncSession, now: datetime, i18n: Translator) -> None:
    """"Mark as handled" under a forwarded impostor report."""
    try:
        report_id = ImpostorHandled.parse(callback.data).report_id
    except CallbackDataError:
        await callback.answer()
        return
    if principal is None:
        await callback.answer()
        return
    report = await impostor.mark_handled(session, now=now, principal=principal,
                                         report_id=report_id)
    await callback.answer(i18n("Marked as handled."))
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)
        await callback.message.answer(i18n("Impostor report #%(id)s is marked as handled.")
                                      % {"id": report.id})


def create_router() -> Router:
    """Routes for office heads' staff tools."""
    router = Router(name=__name__)
    router.message.register(cmd_staff, Command("staff"))
    router.message.register(cmd_status_change, Command("suspend", "revoke", "reinstate"))
    router.message.register(cmd_code, Command("code"))
    router.message.register(cmd_lookups, Command("lookups"))
    router.callback_query.register(on_confirm, F.data.startswith(StaffConfirm.head()))
    router.callback_query.register(on_cancel, F.data.startswith(StaffCancel.head()))
    router.callback_query.register(on_handled, F.data.startswith(ImpostorHandled.head()))
    return router
