"""/bulletin: list, resend, generate on demand, correct; the approver's Publish / Add note /
Discard buttons on a draft."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import BulletinAction, CallbackDataError
from bot.db.models.bulletins import DRAFT, PUBLISHED, Bulletin, BulletinSeries
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.bulletins import config as series_cfg
from bot.services.bulletins import series as svc
from bot.services.shared.errors import DomainError
from bot.util.echo import shown
from handlers.commands import N_, CommandInfo
from handlers.conversation import refuse_text

ORDER = 40
COMMANDS = (
    CommandInfo("bulletin", N_("Situation bulletins: list, /bulletin N to read one"),
                roles=frozenset({"leader", "office_head", "admin"}), args=N_("[N|new|correct N]")),
)
NEW_WORDS = {"new", "生成", "新"}
CORRECT_WORDS = {"correct", "更正"}


class BulletinNote(StatesGroup):
    """Waiting for the approver's "next steps" note on a draft."""

    text = State()


async def _reply_rendition(message: Message, r: svc.Rendition, caption: str,
                           reply_markup: dict[str, object] | None = None) -> None:
    """Send the message parts, the chart and the document to the user being answered."""
    markup = InlineKeyboardMarkup.model_validate(reply_markup) if reply_markup else None
    last = len(r.messages) - 1
    for i, text in enumerate(r.messages):
        await message.answer(text, reply_markup=markup if i == last else None)
    await message.answer_photo(BufferedInputFile(r.chart_png, r.chart_name), caption=caption)
    await message.answer_document(
        BufferedInputFile(r.document_html.encode("utf-8"), r.document_name), caption=caption)


async def _series(session: AsyncSession, principal: Principal | None,
                  approve: bool = False) -> BulletinSeries | None:
    rows = await series_cfg.series_for(session, principal, approve=approve)
    return rows[0] if rows else None


async def cmd_bulletin(message: Message, command: CommandObject, session: AsyncSession,
                       principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """Dispatch /bulletin, /bulletin N, /bulletin new, /bulletin correct N [reason]."""
    args = (command.args or "").split(maxsplit=2)
    if not args:
        await _list(message, session, principal, i18n)
    elif args[0].isdigit():
        await _resend(message, session, principal, i18n, int(args[0]))
    elif args[0].lower() in NEW_WORDS:
        await _new(message, session, principal, i18n, now)
    elif args[0].lower() in CORRECT_WORDS and len(args) >= 2 and args[1].isdigit():
        await _correct(message, session, principal, i18n, now, int(args[1]),
                       args[2] if len(args) > 2 else None)
    else:
        if args[0].lower() in CORRECT_WORDS:
            wrong = i18n("/bulletin correct needs the number of the published bulletin to "
                         "correct, e.g. /bulletin correct 3.")
        else:
            wrong = i18n("/bulletin: “%(word)s” is not a bulletin number (1, 2, …) or a "
                         "subcommand.") % {"word": shown(args[0])}
        await message.answer(wrong + "\n\n" + render("bulletins/usage.html.j2", i18n))


async def _list(message: Message, session: AsyncSession, principal: Principal | None,
                i18n: Translator) -> None:
    rows = await series_cfg.series_for(session, principal)
    if not rows:
        await message.answer(i18n("Bulletins are for leadership and census office heads."))
        return
    listing = []
    for row in rows:
        published = await svc.recent(session, row.id)
        pending = []
        if await series_cfg.series_for(session, principal, approve=True):
            pending = await svc.drafts(session, row.id)
        tz = series_cfg.series_config(row).tz
        listing.append({
            "title": row.title_en if i18n.locale.startswith("en") else row.title_zh,
            "published": [{"number": b.number, "start": b.period_start.isoformat(),
                           "end": b.period_end.isoformat(),
                           "date": b.published_at.astimezone(tz).date().isoformat()
                           if b.published_at else ""} for b in published],
            "drafts": [{"start": b.period_start.isoformat(), "end": b.period_end.isoformat(),
                        "corrects": b.corrects_number} for b in pending],
        })
    await message.answer(render("bulletins/list.html.j2", i18n, series=listing))


async def _resend(message: Message, session: AsyncSession, principal: Principal | None,
                  i18n: Translator, number: int) -> None:
    row = await _series(session, principal)
    if row is None:
        await message.answer(i18n("Bulletins are for leadership and census office heads."))
        return
    b = await svc.by_number(session, row.id, number)
    if b is None:
        raise DomainError("There is no published bulletin No. %(number)s.", number=number)
    r = svc.render_bulletin(b, i18n, series_cfg.series_config(row).tz)
    await _reply_rendition(message, r, i18n("Bulletin No. %(number)s") % {"number": number})


async def _new(message: Message, session: AsyncSession, principal: Principal | None,
               i18n: Translator, now: datetime) -> None:
    row = await _series(session, principal, approve=True)
    if row is None:
        raise DomainError("Only the office head of the series' root unit can do this.")
    outcome = await svc.generate(session, row.id, now=now, actor=principal, origin="demand")
    if outcome is None:
        await message.answer(i18n("The first period of this series is not over yet."))
        return
    b = outcome.bulletin
    await message.answer(render(
        "bulletins/generated.html.j2", i18n, created=outcome.created, state=b.state,
        number=b.number, approvers=len(outcome.recipients),
        start=b.period_start.isoformat(), end=b.period_end.isoformat()))


async def _correct(message: Message, session: AsyncSession, principal: Principal | None,
                   i18n: Translator, now: datetime, number: int, reason: str | None) -> None:
    row = await _series(session, principal, approve=True)
    if row is None:
        raise DomainError("Only the office head of the series' root unit can do this.")
    outcome = await svc.correct(session, row.id, number, now=now, actor=principal,
                                reason=reason)
    b = outcome.bulletin
    await message.answer(render(
        "bulletins/generated.html.j2", i18n, created=outcome.created, state=b.state,
        number=b.number, approvers=len(outcome.recipients),
        start=b.period_start.isoformat(), end=b.period_end.isoformat()))


def _bulletin_id(callback: CallbackQuery) -> int:
    """The bulletin id in the pressed button (0 when stale or malformed: not found)."""
    try:
        return BulletinAction.parse(callback.data).bulletin_id
    except CallbackDataError:
        return 0


async def _close(callback: CallbackQuery) -> None:
    """Take the buttons off the message that was clicked (they have done their work)."""
    if isinstance(callback.message, Message):
        try:
            await callback.message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest:
            pass  # already without buttons


def _already(b: Bulletin, i18n: Translator) -> str:
    """What already happened to a bulletin that is no longer a draft."""
    if b.state == PUBLISHED:
        return i18n("Already published as No. %(number)s.") % {"number": b.number}
    return i18n("This draft was already discarded.")


async def on_publish(callback: CallbackQuery, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """Publish the draft: numbered and queued to every leadership chat."""
    try:
        outcome = await svc.publish(session, _bulletin_id(callback), now=now, actor=principal)
    except DomainError as exc:
        await callback.answer(exc.render(i18n), show_alert=True)
        await _close(callback)
        return
    b = outcome.bulletin
    if not outcome.created:  # a repeated click, or another approver was first
        await callback.answer(_already(b, i18n), show_alert=True)
        await _close(callback)
        return
    await callback.answer(i18n("Published as No. %(number)s.") % {"number": b.number})
    await _close(callback)
    if callback.message is not None:
        await callback.message.answer(render(
            "bulletins/published.html.j2", i18n, number=b.number, fresh=outcome.created,
            chats=len(outcome.recipients)))


async def on_discard(callback: CallbackQuery, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """Discard the draft (it has no number, so nothing is skipped)."""
    try:
        _, before = await svc.draft_for_action(session, _bulletin_id(callback), principal)
        was_draft = before.state == DRAFT
        b = await svc.discard(session, _bulletin_id(callback), now=now, actor=principal)
    except DomainError as exc:
        await callback.answer(exc.render(i18n), show_alert=True)
        await _close(callback)
        return
    await _close(callback)
    if not was_draft:
        await callback.answer(_already(b, i18n), show_alert=True)
        return
    await callback.answer(i18n("Draft discarded."))
    if callback.message is not None:
        await callback.message.answer(i18n("Draft discarded."))


async def on_note(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                  principal: Principal | None, i18n: Translator) -> None:
    """Ask the approver for the "next steps" note (only while the bulletin is a draft)."""
    bid = _bulletin_id(callback)
    _, b = await svc.draft_for_action(session, bid, principal)
    if b.state != DRAFT:
        await callback.answer(_already(b, i18n), show_alert=True)
        await _close(callback)
        return
    await state.set_state(BulletinNote.text)
    await state.update_data(bulletin_id=bid)
    await callback.answer()
    await _close(callback)
    if callback.message is not None:
        await callback.message.answer(i18n(
            "Send the next-steps note as one message (at most %(max)s characters). "
            "It replaces any earlier note. /cancel keeps the draft as it is.")
            % {"max": series_cfg.NOTE_MAX})


async def on_note_text(message: Message, state: FSMContext, session: AsyncSession,
                       principal: Principal | None, i18n: Translator, now: datetime) -> None:
    """Store the note and show the updated draft with its buttons again."""
    data = await state.get_data()
    bid = int(data.get("bulletin_id") or 0)
    try:
        b = await svc.add_note(session, bid, message.text or "", now=now, actor=principal)
    except DomainError as exc:
        await refuse_text(message, state, session, exc, i18n)
        return
    await state.clear()
    series = await svc.get_series(session, b.series_id)
    r = svc.render_bulletin(b, i18n, series_cfg.series_config(series).tz)
    await message.answer(i18n("Note saved. The draft now reads:"))
    await _reply_rendition(message, r, i18n("Draft for approval"),
                           reply_markup=svc.draft_keyboard(b.id, i18n))


async def on_note_cancel(message: Message, state: FSMContext, i18n: Translator) -> None:
    """Leave the note unchanged; the draft's buttons come back with the answer."""
    bid = int((await state.get_data()).get("bulletin_id") or 0)
    await state.clear()
    markup = InlineKeyboardMarkup.model_validate(svc.draft_keyboard(bid, i18n)) if bid else None
    await message.answer(i18n("The draft is unchanged."), reply_markup=markup)


def create_router() -> Router:
    """Routes for /bulletin and the draft buttons."""
    router = Router(name=__name__)
    router.message.register(on_note_cancel, BulletinNote.text, Command("cancel"))
    router.message.register(on_note_text, BulletinNote.text, F.text, ~F.text.startswith("/"))
    router.message.register(cmd_bulletin, Command("bulletin"))
    router.callback_query.register(on_publish, F.data.startswith(BulletinAction.head() + "pub:"))
    router.callback_query.register(on_note, F.data.startswith(BulletinAction.head() + "note:"))
    router.callback_query.register(on_discard, F.data.startswith(BulletinAction.head() + "del:"))
    return router
