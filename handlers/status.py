"""/status and /export: who reported, who is late or missing, and progress against targets.

The rates, totals and ranking come from `bot.services.reports.progress`; this module renders
them."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import LEADERSHIP_ROLES, Principal
from bot.services.reports.progress import (
    ICONS,
    STATUS_ROLES,
    export_day,
    export_sheets,
    rate_change,
    refuse_words,
    scope,
    status_board,
)
from bot.services.reports.templates import get_template
from bot.services.reports.xlsx import build_export_xlsx
from bot.util.timefmt import local_time, period_text
from handlers.commands import N_, CommandInfo

ORDER = 41
COMMANDS = (
    CommandInfo("status", N_("Who has reported today, and progress against targets"),
                roles=STATUS_ROLES, args=N_("[survey|listing|accounting]")),
    CommandInfo("export", N_("Spreadsheet of this period's reports"), roles=LEADERSHIP_ROLES),
)
LIMIT = 3900


def status_names(i18n: Translator) -> dict[str, str]:
    """Status words in the reader's language."""
    return {"submitted": i18n("submitted"), "late": i18n("late"), "missing": i18n("missing"),
            "not_due": i18n("not yet due")}


def _chunks(text: str) -> list[str]:
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        if len(current) + len(line) + 1 > LIMIT and current:
            out.append(current)
            current = ""
        current += line + "\n"
    if current.strip():
        out.append(current)
    return out


async def cmd_status(message: Message, command: CommandObject, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, locale: str,
                     settings: Settings, now: datetime) -> None:
    """Today's matrix for the user's subtree: submitted, late, missing; totals; ranking."""
    root, phase, rest = await scope(session, principal, command.args or "", own_unit_ok=True)
    if root is None:
        await message.answer(i18n("/status is for liaisons, office heads and leaders."))
        return
    refuse_words(rest, "/status")  # DomainError, answered by the error handler
    phase = phase or "survey"
    board = await status_board(session, root=root, phase=phase, now=now, locale=locale,
                               t=i18n)
    if board is None:
        await message.answer(i18n("No unit under %(unit)s reports on this table.")
                             % {"unit": root.display_name(locale)})
        return
    names = status_names(i18n)
    rows = [{"rank": rank, "name": p.display_name(locale), "icon": ICONS[p.status],
             "status": names[p.status], "rate": p.completion_rate, "change": rate_change(p),
             "at": local_time(p.submitted_at, settings.tz, "%H:%M") or None}
            for rank, p in enumerate(board.ranked, 1)]
    p0 = board.snapshot[0]
    text = render(
        "reports/status.html.j2", i18n, root=root.display_name(locale),
        table=get_template(phase).name_for(locale),
        period=period_text(p0.period_start, p0.period_end, locale),
        deadline=local_time(p0.deadline, settings.tz, "%H:%M"), counts=board.counts,
        total=len(board.snapshot), rows=rows, lines=board.lines,
        rate=board.root_total.completion_rate if board.root_total else None,
        late=[p.display_name(locale) for p in board.snapshot if p.status == "late"],
        missing=[p.display_name(locale) for p in board.snapshot if p.status == "missing"],
        subtotals=[{"name": r.display_name(locale), "rate": r.completion_rate,
                    "done": r.by_status["submitted"] + r.by_status["late"], "units": r.units}
                   for r in board.totals if r.unit_code != root.code],
    )
    for chunk in _chunks(text):
        await message.answer(chunk)


async def cmd_export(message: Message, command: CommandObject, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, locale: str,
                     settings: Settings, now: datetime) -> None:
    """An XLSX of the period (this one, or the one containing a YYYY-MM-DD date given):
    a sheet per phase, a row per unit, totals."""
    root, phase, words = await scope(session, principal, command.args or "")
    if root is None:
        await message.answer(i18n("/export is for office heads and leaders."))
        return
    refuse_words(words, "/export", dates_ok=True)
    day = export_day(words)  # a bad date: DomainError, answered by the error handler
    sheets = await export_sheets(session, root=root, phase=phase, day=day, now=now)
    if not sheets:
        await message.answer(i18n("No unit under %(unit)s reports on this table.")
                             % {"unit": root.display_name(locale)})
        return
    content = build_export_xlsx(sheets, locale=locale, t=i18n, status_names=status_names(i18n),
                                tz=settings.tz)
    local = (day or now.astimezone(settings.tz).date()).isoformat()
    await message.answer_document(
        BufferedInputFile(content, filename=f"progress_{root.code}_{local}.xlsx"),
        caption=i18n("Progress of %(unit)s on %(date)s.")
        % {"unit": root.display_name(locale), "date": local})


def create_router() -> Router:
    """Routes for /status and /export."""
    router = Router(name=__name__)
    router.message.register(cmd_status, Command("status"))
    router.message.register(cmd_export, Command("export"))
    return router
