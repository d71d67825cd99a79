"""/report: progress reports by guided conversation, quick form or spreadsheet.

Every path ends in a summary (with the change since the previous report) and a Confirm
button; nothing is saved before it. The draft lives in the database (report_drafts) and the
conversation state in the FSM storage, so a restart loses nothing.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

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

from bot.config import Settings
from bot.db.models.reports import ReportDraft
from bot.i18n import Translator
from bot.rendering import render
from bot.services import reports as svc
from bot.services.access import Principal
from bot.services.cadence import Assignment
from bot.services.errors import DomainError
from bot.services.quickform import parse_number, parse_quick
from bot.services.report_review import apply_text, review, target_label
from bot.services.report_templates import Field, Problem, Value, check_value, fmt, get_template
from bot.services.report_xlsx import build_report_xlsx, read_report_upload
from bot.services.timefmt import local_time, period_text
from handlers.commands import N_, CommandInfo

ORDER = 40
COMMANDS = (
    CommandInfo("report", N_("Submit your unit's progress report"),
                roles=frozenset({"liaison", "office_head"}), args=N_("[template|help]")),
)
TEMPLATE_WORDS = {"template", "xlsx", "excel", "模板", "表格"}
HELP_WORDS = {"help", "帮助", "?", "？"}
MAX_UPLOAD = 2 * 1024 * 1024
T = TypeVar("T")


class ReportForm(StatesGroup):
    """The liaison is in a report: the draft's `stage` says what is expected next."""

    active = State()


# --------------------------------------------------------------------------- helpers


def _kb(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
        for row in rows if row
    ])


def _unit_buttons(found: list[Assignment], prefix: str, locale: str,
                  i18n: Translator) -> InlineKeyboardMarkup:
    phases = {a.phase for a in found}
    rows = []
    for a in found:
        label = a.unit.display_name(locale)
        if len(phases) > 1:
            label = f"{label} · {get_template(a.phase).name_for(locale)}"
        rows.append([(label, f"{prefix}:{a.unit.code}:{a.phase}")])
    rows.append([(i18n("Cancel"), "rp:cancel")])
    return _kb(rows)


def _alias_list(f: Field, locale: str) -> str:
    """The quick-form names to show: Chinese ones to a Chinese reader, all to an English one."""
    if locale.startswith("en"):
        return ", ".join(f.aliases[:4])
    return "、".join([a for a in f.aliases if not a.isascii()][:4])


def _problems_text(problems: list[Problem], i18n: Translator) -> list[str]:
    return [p.render(i18n) for p in problems]


def _suggestion(ctx: svc.ReportContext, values: dict[str, Any], f: Field) -> Value | None:
    if f.key in values:
        return values[f.key]
    if ctx.current is not None and f.key in ctx.current.values:
        return ctx.current.values[f.key]
    if f.monotonic or f.type == "percent":
        prev = ctx.previous.get(f.key)
        return prev if isinstance(prev, int | float) else None
    return None


async def _ask_field(message: Message, ctx: svc.ReportContext, draft: ReportDraft,
                     i18n: Translator, locale: str, error: str | None = None) -> None:
    f = ctx.template.fields[draft.cursor]
    suggestion = _suggestion(ctx, draft.values, f)
    target = ctx.targets.get(f.target) if f.target else None
    row: list[tuple[str, str]] = []
    if draft.cursor > 0:
        row.append((i18n("⬅ Back"), "rp:back"))
    if suggestion is not None and suggestion != "":
        shown = fmt(suggestion) if not isinstance(suggestion, str) else suggestion[:20]
        row.append((i18n("Keep %(value)s") % {"value": shown}, "rp:keep"))
    if not f.required:
        row.append((i18n("Skip"), "rp:skip"))
    text = render("reports/ask_field.html.j2", i18n, n=draft.cursor + 1,
                  total=len(ctx.template.fields), label=f.label_for(locale),
                  unit=f.unit_for(locale), type=f.type, required=f.required,
                  target=fmt(target) if target is not None else None,
                  previous=fmt(ctx.previous[f.key]) if f.key in ctx.previous else None,
                  error=error)
    await message.answer(text, reply_markup=_kb([row, [(i18n("Cancel"), "rp:cancel")]]))


def _summary_rows(ctx: svc.ReportContext, values: dict[str, Any],
                  locale: str) -> list[dict[str, Any]]:
    rows = []
    for f in ctx.template.fields:
        if f.key not in values:
            continue
        v = values[f.key]
        prev = ctx.baseline.get(f.key)
        change = None
        if f.numeric and isinstance(prev, int | float) and isinstance(v, int | float):
            delta = v - prev
            change = ("+" if delta > 0 else "") + fmt(delta) if delta else "±0"
        target = ctx.targets.get(f.target) if f.target else None
        rate = (round(100.0 * v / target, 1) if target and isinstance(v, int | float) else None)
        rows.append({"label": f.label_for(locale), "value": fmt(v) if f.numeric else v,
                     "unit": f.unit_for(locale), "change": change,
                     "target": fmt(target) if target is not None else None, "rate": rate})
    return rows


async def _show_summary(message: Message, session: AsyncSession, ctx: svc.ReportContext,
                        draft: ReportDraft, i18n: Translator, locale: str,
                        settings: Settings, now: datetime, error: str | None = None) -> None:
    """Validate the whole draft and show it with Confirm (or what is needed first)."""
    values = dict(draft.values)
    rev = review(ctx, values, reason=draft.reason, new_found=draft.new_found, locale=locale)
    edit_row = [(i18n("✏️ Edit"), "rp:edit"), (i18n("Cancel"), "rp:cancel")]
    if rev.stage == "confirm":
        buttons = [[(i18n("✅ Confirm and submit"), "rp:confirm")], edit_row]
    elif rev.stage == "newfound":
        least = fmt(rev.needed[rev.pending[0]])
        buttons = [[(i18n("All %(count)s are newly found") % {"count": least}, "rp:nf")],
                   edit_row]
    else:
        buttons = [edit_row]
    if rev.stage != draft.stage or draft in session.dirty:
        await svc.save_draft(session, user_id=draft.user_id, now=now, phase=draft.phase,
                             unit_code=draft.unit_code, values=values, cursor=draft.cursor,
                             stage=rev.stage, source=draft.source, reason=draft.reason,
                             new_found=draft.new_found)
    rate = ctx.template.completion_rate(values, ctx.targets)
    new_found = [{"label": target_label(ctx.template, k, locale), "count": fmt(v)}
                 for k, v in (draft.new_found or {}).items() if k in rev.needed]
    text = render(
        "reports/summary.html.j2", i18n, unit=ctx.assignment.unit.display_name(locale),
        table=ctx.template.name_for(locale), period=period_text(ctx.period, locale=locale),
        deadline=local_time(ctx.period.deadline, settings.tz),
        late=now > ctx.period.deadline, rows=_summary_rows(ctx, values, locale),
        version=(ctx.current.version + 1) if ctx.current else 1, rate=rate,
        hard=_problems_text(rev.hard, i18n), decreases=_problems_text(rev.decreases, i18n),
        above=_problems_text(rev.above, i18n), new_found=new_found,
        asking=rev.pending_label(ctx.template, locale),
        least=fmt(rev.needed[rev.pending[0]]) if rev.pending else None,
        reason=draft.reason, stage=rev.stage, error=error,
    )
    await message.answer(text, reply_markup=_kb(buttons))


async def _context_for(session: AsyncSession, principal: Principal | None, draft: ReportDraft,
                       now: datetime) -> svc.ReportContext:
    assert draft.unit_code is not None
    return await svc.context(session, principal, draft.unit_code, draft.phase, now)


def _carry_over(ctx: svc.ReportContext, values: dict[str, Value]) -> dict[str, Value]:
    """Quick form and spreadsheet: fields not given keep this period's or cumulative values."""
    base: dict[str, Value] = {}
    if ctx.current is not None:
        base = dict(ctx.current.values)
    else:
        for f in ctx.template.fields:
            prev = ctx.previous.get(f.key)
            if f.monotonic and isinstance(prev, int | float):
                base[f.key] = prev
    base.update(values)
    return base


async def _begin_values(message: Message, session: AsyncSession, state: FSMContext,
                        principal: Principal | None, unit_code: str, phase: str,
                        values: dict[str, Value], problems: list[Problem], source: str,
                        i18n: Translator, locale: str, settings: Settings,
                        now: datetime) -> None:
    """Quick form / spreadsheet values: refuse parse errors, else the summary to confirm."""
    ctx = await svc.context(session, principal, unit_code, phase, now)
    if problems:
        await message.answer(render("reports/problems.html.j2", i18n,
                                    problems=_problems_text(problems, i18n), saved=False))
        return
    merged = _carry_over(ctx, values)
    draft = await svc.save_draft(session, user_id=message.chat.id if principal is None
                                 else principal.user_id, now=now, phase=phase,
                                 unit_code=unit_code, values=merged,
                                 cursor=len(ctx.template.fields), stage="confirm", source=source)
    await _state(session, state.set_state(ReportForm.active))
    await _show_summary(message, session, ctx, draft, i18n, locale, settings, now)


async def _state(session: AsyncSession, op: Awaitable[T]) -> T:
    """Run an FSM-storage call; it joins this update's transaction (`session`), which the
    context middleware commits, so nothing is committed here."""
    return await op


def _refusal(i18n: Translator) -> str:
    return render("reports/refused.html.j2", i18n)


# --------------------------------------------------------------------------- /report


async def cmd_report(message: Message, command: CommandObject, session: AsyncSession,
                     state: FSMContext, principal: Principal | None, i18n: Translator,
                     locale: str, settings: Settings, now: datetime) -> None:
    """Start a report: resume a draft, choose the unit, or take a quick form / template."""
    args = (command.args or "").strip()
    found = await svc.reportable(session, principal)
    if args.lower() in HELP_WORDS:
        phases = sorted({a.phase for a in found}) or ["survey"]
        await message.answer(render("reports/help.html.j2", i18n, tables=[
            {"name": get_template(p).name_for(locale),
             "fields": [{"label": f.label_for(locale), "aliases": _alias_list(f, locale),
                         "required": f.required} for f in get_template(p).fields]}
            for p in phases]))
        return
    if not found or principal is None:
        await message.answer(_refusal(i18n))
        return
    if args.lower() in TEMPLATE_WORDS:
        if len(found) == 1:
            await _send_template(message, session, principal, found[0].unit.code,
                                 found[0].phase, i18n, locale, now)
        else:
            await message.answer(render("reports/choose_unit.html.j2", i18n),
                                 reply_markup=_unit_buttons(found, "rpx", locale, i18n))
        return
    if args:
        first, _, rest = args.partition(" ")
        chosen = [a for a in found if a.unit.code == first]
        if chosen:
            args = rest.strip()
            found = chosen
        if len(found) == 1:
            await _quick(message, session, state, principal, found[0], args, i18n, locale,
                         settings, now)
            return
        await _state(session, state.set_state(ReportForm.active))
        await _state(session, state.update_data(quick=args))
        await svc.discard_draft(session, principal.user_id)
        await message.answer(render("reports/choose_unit.html.j2", i18n),
                             reply_markup=_unit_buttons(found, "rpq", locale, i18n))
        return
    draft = await svc.get_draft(session, principal.user_id)
    if draft is not None and draft.unit_code is not None:
        unit = next((a.unit for a in found if a.unit.code == draft.unit_code), None)
        if unit is not None:
            await _state(session, state.set_state(ReportForm.active))
            await message.answer(
                render("reports/resume.html.j2", i18n, unit=unit.display_name(locale),
                       table=get_template(draft.phase).name_for(locale),
                       done=min(draft.cursor, len(get_template(draft.phase).fields)),
                       total=len(get_template(draft.phase).fields)),
                reply_markup=_kb([[(i18n("Continue"), "rp:resume"),
                                   (i18n("Start over"), "rp:restart")],
                                  [(i18n("Cancel"), "rp:cancel")]]))
            return
    if len(found) == 1:
        await _start_guided(message, session, state, principal, found[0].unit.code,
                            found[0].phase, i18n, locale, now)
        return
    await message.answer(render("reports/choose_unit.html.j2", i18n),
                         reply_markup=_unit_buttons(found, "rpg", locale, i18n))


async def _start_guided(message: Message, session: AsyncSession, state: FSMContext,
                        principal: Principal, unit_code: str, phase: str, i18n: Translator,
                        locale: str, now: datetime) -> None:
    ctx = await svc.context(session, principal, unit_code, phase, now)
    draft = await svc.save_draft(session, user_id=principal.user_id, now=now, phase=phase,
                                 unit_code=unit_code, values={}, cursor=0, stage="fields",
                                 source="guided")
    await _state(session, state.set_state(ReportForm.active))
    await message.answer(render(
        "reports/start.html.j2", i18n, unit=ctx.assignment.unit.display_name(locale),
        table=ctx.template.name_for(locale), period=period_text(ctx.period, locale=locale),
        correction=ctx.current is not None,
        version=(ctx.current.version + 1) if ctx.current else 1))
    await _ask_field(message, ctx, draft, i18n, locale)


async def _quick(message: Message, session: AsyncSession, state: FSMContext,
                 principal: Principal, found: Assignment, text: str, i18n: Translator,
                 locale: str, settings: Settings, now: datetime) -> None:
    template = get_template(found.phase)
    result = parse_quick(text, template, locale)
    if not result.values and not result.problems:
        await _start_guided(message, session, state, principal, found.unit.code, found.phase,
                            i18n, locale, now)
        return
    await _begin_values(message, session, state, principal, found.unit.code, found.phase,
                        result.values, result.problems, "quick", i18n, locale, settings, now)


async def _send_template(message: Message, session: AsyncSession, principal: Principal,
                         unit_code: str, phase: str, i18n: Translator, locale: str,
                         now: datetime) -> None:
    ctx = await svc.context(session, principal, unit_code, phase, now)
    content = build_report_xlsx(
        template=ctx.template, unit_code=unit_code,
        unit_name=ctx.assignment.unit.display_name(locale), period_start=ctx.period.start,
        period_end=ctx.period.end, targets=ctx.targets, previous=ctx.previous,
        current=dict(ctx.current.values) if ctx.current else {}, locale=locale, t=i18n)
    name = f"report_{unit_code}_{phase}_{ctx.period.start.isoformat()}.xlsx"
    await message.answer_document(BufferedInputFile(content, filename=name),
                                  caption=render("reports/template_caption.html.j2", i18n))


# --------------------------------------------------------------------------- text input


async def on_text(message: Message, session: AsyncSession, state: FSMContext,
                  principal: Principal | None, i18n: Translator, locale: str,
                  settings: Settings, now: datetime) -> None:
    """A message while a report is open: the value asked for, or the reason for a decrease."""
    draft = await svc.get_draft(session, principal.user_id) if principal else None
    if draft is None or draft.unit_code is None:
        await _state(session, state.clear())
        await message.answer(i18n("There is no report open. Send /report to start one."))
        return
    try:
        ctx = await _context_for(session, principal, draft, now)
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    text = (message.text or "").strip()
    if draft.stage != "fields":
        await _summary_text(message, session, ctx, draft, text, i18n, locale, settings, now)
        return
    f = ctx.template.fields[draft.cursor]
    value: Value | None = text if f.type == "text" else parse_number(text)
    if value is None:
        await _ask_field(message, ctx, draft, i18n, locale, error=i18n(
            "%(field)s: enter a number, for example 120.") % {"field": f.label_for(locale)})
        return
    await _accept(message, session, ctx, draft, f, value, i18n, locale, settings, now)


async def _summary_text(message: Message, session: AsyncSession, ctx: svc.ReportContext,
                        draft: ReportDraft, text: str, i18n: Translator, locale: str,
                        settings: Settings, now: datetime) -> None:
    """Text typed at the summary: corrected values, a 新增 count or a reason, then the summary."""
    values = dict(draft.values)
    rev = review(ctx, values, reason=draft.reason, new_found=draft.new_found, locale=locale)
    got = apply_text(ctx, values, rev, text, reason=draft.reason, new_found=draft.new_found,
                     locale=locale)
    error = None
    if got.values is not None:
        draft.values = got.values
    if got.reason is not None:
        draft.reason = got.reason
    if got.new_found is not None:
        draft.new_found = got.new_found
    if got.problems:
        error = "\n".join(_problems_text(got.problems, i18n))
    elif got.error:
        error = i18n(got.error) % (got.params or {})
    await _show_summary(message, session, ctx, draft, i18n, locale, settings, now, error=error)


async def _accept(message: Message, session: AsyncSession, ctx: svc.ReportContext,
                  draft: ReportDraft, f: Field, value: Value, i18n: Translator, locale: str,
                  settings: Settings, now: datetime) -> None:
    """Check one value; keep it and ask the next field, or say what is wrong and ask again."""
    target = ctx.targets.get(f.target) if f.target else None
    problems = [p for p in check_value(f, value, label=f.label_for(locale), target=target)
                if p.hard]
    if not problems:
        values = dict(draft.values)
        values[f.key] = value
        problems = [p for p in svc.check(ctx, values, locale, complete=False)
                    if p.field == f.key and p.hard]
    if problems:
        await _ask_field(message, ctx, draft, i18n, locale, error=problems[0].render(i18n))
        return
    values = dict(draft.values)
    values[f.key] = value
    await _advance(message, session, ctx, draft, values, i18n, locale, settings, now)


async def _advance(message: Message, session: AsyncSession, ctx: svc.ReportContext,
                   draft: ReportDraft, values: dict[str, Any], i18n: Translator, locale: str,
                   settings: Settings, now: datetime) -> None:
    draft = await svc.save_draft(session, user_id=draft.user_id, now=now, phase=draft.phase,
                                 unit_code=draft.unit_code, values=values,
                                 cursor=draft.cursor + 1, stage="fields", source=draft.source,
                                 reason=draft.reason)
    if draft.cursor >= len(ctx.template.fields):
        await _show_summary(message, session, ctx, draft, i18n, locale, settings, now)
    else:
        await _ask_field(message, ctx, draft, i18n, locale)


# --------------------------------------------------------------------------- buttons


async def on_button(callback: CallbackQuery, session: AsyncSession, state: FSMContext,
                    principal: Principal | None, i18n: Translator, locale: str,
                    settings: Settings, now: datetime) -> None:
    """Back, keep, skip, edit, resume, restart, confirm, cancel."""
    action = (callback.data or "").split(":", 1)[1]
    message = callback.message
    if not isinstance(message, Message) or principal is None:
        await callback.answer()
        return
    draft = await svc.get_draft(session, principal.user_id)
    if action == "cancel":
        await svc.discard_draft(session, principal.user_id)
        await _state(session, state.clear())
        await callback.answer()
        await message.edit_reply_markup(reply_markup=None)
        await message.answer(i18n("Report cancelled; nothing was saved."))
        return
    if draft is None or draft.unit_code is None:
        await callback.answer(i18n("This report is no longer open. Send /report to start."),
                              show_alert=True)
        return
    await callback.answer()
    try:
        ctx = await _context_for(session, principal, draft, now)
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    fields = ctx.template.fields
    if action == "restart":
        await _start_guided(message, session, state, principal, draft.unit_code, draft.phase,
                            i18n, locale, now)
        return
    if action == "confirm":
        await _confirm(message, session, state, principal, ctx, draft, i18n, locale, now)
        return
    if action == "nf":  # every object above the target is newly found
        rev = review(ctx, dict(draft.values), reason=draft.reason, new_found=draft.new_found,
                     locale=locale)
        await message.edit_reply_markup(reply_markup=None)
        if rev.stage == "newfound":
            key = rev.pending[0]
            draft.new_found = {**(draft.new_found or {}), key: int(rev.needed[key])}
        await _show_summary(message, session, ctx, draft, i18n, locale, settings, now)
        return
    await message.edit_reply_markup(reply_markup=None)
    await _state(session, state.set_state(ReportForm.active))
    if action == "resume":
        if draft.cursor >= len(fields):
            await _show_summary(message, session, ctx, draft, i18n, locale, settings, now)
        else:
            draft.stage = "fields"
            await _ask_field(message, ctx, draft, i18n, locale)
        return
    if action == "edit":
        draft = await svc.save_draft(session, user_id=draft.user_id, now=now, phase=draft.phase,
                                     unit_code=draft.unit_code, values=draft.values, cursor=0,
                                     stage="fields", source="guided", reason=None)
        await _ask_field(message, ctx, draft, i18n, locale)
        return
    if draft.stage != "fields" or draft.cursor >= len(fields):
        return
    f = fields[draft.cursor]
    if action == "back":
        values = dict(draft.values)
        draft = await svc.save_draft(session, user_id=draft.user_id, now=now, phase=draft.phase,
                                     unit_code=draft.unit_code, values=values,
                                     cursor=max(0, draft.cursor - 1), stage="fields",
                                     source=draft.source, reason=draft.reason)
        await _ask_field(message, ctx, draft, i18n, locale)
    elif action == "keep":
        suggestion = _suggestion(ctx, draft.values, f)
        if suggestion is None:
            await _ask_field(message, ctx, draft, i18n, locale)
        else:
            await _accept(message, session, ctx, draft, f, suggestion, i18n, locale, settings,
                          now)
    elif action == "skip":
        if f.required:
            await _ask_field(message, ctx, draft, i18n, locale, error=i18n(
                "%(field)s is required.") % {"field": f.label_for(locale)})
            return
        values = {k: v for k, v in draft.values.items() if k != f.key}
        await _advance(message, session, ctx, draft, values, i18n, locale, settings, now)


async def _confirm(message: Message, session: AsyncSession, state: FSMContext,
                   principal: Principal, ctx: svc.ReportContext, draft: ReportDraft,
                   i18n: Translator, locale: str, now: datetime) -> None:
    if draft.stage != "confirm":
        await message.answer(i18n("Fix the problems shown first."))
        return
    unit_code, phase, values = draft.unit_code or "", draft.phase, dict(draft.values)
    source, reason = draft.source, draft.reason
    try:
        report = await svc.submit(session, principal=principal, unit_code=unit_code,
                                  phase=phase, values=values, source=source, now=now,
                                  locale=locale, reason=reason, new_found=draft.new_found)
    except DomainError as exc:
        await message.answer(exc.render(i18n))
        return
    await _state(session, state.clear())
    await message.edit_reply_markup(reply_markup=None)
    late = report.submitted_at > report.deadline and report.version == 1
    await message.answer(render(
        "reports/saved.html.j2", i18n, unit=ctx.assignment.unit.display_name(locale),
        period=period_text(report.period_start, report.period_end, locale),
        version=report.version, late=late, new_found=sum((report.new_found or {}).values()),
        rate=ctx.template.completion_rate(report.values, ctx.targets)))


async def on_unit_chosen(callback: CallbackQuery, session: AsyncSession, state: FSMContext,
                         principal: Principal | None, i18n: Translator, locale: str,
                         settings: Settings, now: datetime) -> None:
    """A unit button: rpg (guided), rpq (the quick form waiting in the FSM), rpx (template),
    rpn (a reminder's "report now": guided)."""
    kind, _, rest = (callback.data or "").partition(":")
    unit_code, _, phase = rest.partition(":")
    message = callback.message
    await callback.answer()
    if not isinstance(message, Message) or principal is None:
        return
    try:
        found = await svc.authorize(session, principal, unit_code, phase)
        await message.edit_reply_markup(reply_markup=None)
        if kind == "rpx":
            await _send_template(message, session, principal, unit_code, phase, i18n, locale,
                                 now)
        elif kind == "rpq":
            data = await _state(session, state.get_data())
            await _quick(message, session, state, principal, found, str(data.get("quick", "")),
                         i18n, locale, settings, now)
        else:
            await _start_guided(message, session, state, principal, unit_code, phase, i18n,
                                locale, now)
    except DomainError as exc:
        await message.answer(exc.render(i18n))


# --------------------------------------------------------------------------- spreadsheet


def _is_xlsx(message: Message) -> bool:
    doc = message.document
    return doc is not None and (doc.file_name or "").lower().endswith((".xlsx", ".xlsm"))


async def on_document(message: Message, bot: Bot, session: AsyncSession, state: FSMContext,
                      principal: Principal | None, i18n: Translator, locale: str,
                      settings: Settings, now: datetime) -> None:
    """A filled-in report spreadsheet: read it and show the summary to confirm."""
    found = await svc.reportable(session, principal)
    if not found or principal is None:
        await message.answer(_refusal(i18n))
        return
    doc = message.document
    assert doc is not None
    if doc.file_size and doc.file_size > MAX_UPLOAD:
        await message.answer(i18n("The file is too large for a report form (at most 2 MB)."))
        return
    buf = io.BytesIO()
    await bot.download(doc.file_id, destination=buf)
    try:
        parsed = await read_report_upload(buf.getvalue(), locale)
        await _begin_values(message, session, state, principal, parsed.unit_code, parsed.phase,
                            parsed.values, parsed.problems, "xlsx", i18n, locale, settings, now)
    except DomainError as exc:
        await message.answer(exc.render(i18n))


async def on_cancel(message: Message, session: AsyncSession, state: FSMContext,
                    principal: Principal | None, i18n: Translator) -> None:
    """/cancel at any prompt of a report: the draft is discarded, nothing is saved."""
    if principal is not None:
        await svc.discard_draft(session, principal.user_id)
    await _state(session, state.clear())
    await message.answer(i18n("Report cancelled; nothing was saved."))


def create_router() -> Router:
    """Routes for /report, its buttons, values typed in, and uploaded spreadsheets."""
    router = Router(name=__name__)
    router.message.register(on_cancel, ReportForm.active, Command("cancel"))
    router.message.register(cmd_report, Command("report"))
    router.callback_query.register(on_button, F.data.startswith("rp:"))
    router.callback_query.register(on_unit_chosen, F.data.regexp(r"^rp[gqxn]:"))
    router.message.register(on_document, F.document, _is_xlsx)
    router.message.register(on_text, ReportForm.active, F.text, ~F.text.startswith("/"))
    return router
