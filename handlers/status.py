"""/status and /export: who reported, who is late or missing, and progress against targets."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models.org import Unit
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import LEADERSHIP_ROLES, Principal
from bot.services.reports.cadence import assignments
from bot.services.reports.progress import UnitProgress, progress_snapshot, rollup
from bot.services.reports.templates import PHASES, fmt, get_template, templates
from bot.services.reports.xlsx import ExportSheet, build_export_xlsx
from bot.util.echo import shown
from bot.util.timefmt import local_time, period_text
from handlers.commands import N_, CommandInfo

ORDER = 41
STATUS_ROLES = LEADERSHIP_ROLES | {"liaison"}  # a liaison sees their own unit
COMMANDS = (
    CommandInfo("status", N_("Who has reported today, and progress against targets"),
                roles=STATUS_ROLES, args=N_("[survey|listing|accounting]")),
    CommandInfo("export", N_("Spreadsheet of this period's reports"), roles=LEADERSHIP_ROLES),
)
ICONS = {"submitted": "✅", "late": "⏰", "missing": "❌", "not_due": "⏳"}
PHASE_WORDS = {"survey": "survey", "入户": "survey", "入户调查": "survey", "listing": "listing",
               "清查": "listing", "accounting": "accounting", "核算": "accounting"}
LIMIT = 3900
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


def status_names(i18n: Translator) -> dict[str, str]:
    """Status words in the reader's language."""
    return {"submitted": i18n("submitted"), "late": i18n("late"), "missing": i18n("missing"),
            "not_due": i18n("not yet due")}


async def _scope(session: AsyncSession, principal: Principal | None, args: str,
                 own_unit_ok: bool = False) -> tuple[Unit | None, str | None, list[str]]:
    """(root unit, phase asked for or None, other words) for this user, or (None, ...)."""
    roles = STATUS_ROLES if own_unit_ok else LEADERSHIP_ROLES
    if principal is None or not principal.has_any(roles):
        return None, None, []
    phase = None
    words = []
    for word in args.split():
        if word.lower() in PHASE_WORDS:
            phase = PHASE_WORDS[word.lower()]
        elif word in templates():  # a further report of a phase, e.g. survey_weekly
            phase = word
        else:
            words.append(word)
    grants = principal.units_for(roles)
    root_code = grants[0].unit_code
    rest = []
    for word in words:  # /status 410102: a unit inside the user's scope
        unit = await session.get(Unit, word)
        if unit is not None and principal.covers(roles, unit.path):
            root_code = unit.code
        else:
            rest.append(word)
    return await session.get(Unit, root_code), phase, rest


def _unknown_word(i18n: Translator, command: str, word: str) -> str:
    """A word that is neither a unit of the user's area, a table nor (for /export) a date."""
    return i18n("%(command)s: “%(word)s” is not the code of a unit in your area or a table name "
                "(survey, listing, accounting). Send %(command)s alone for your whole area.") % {
        "command": command, "word": shown(word)}


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


def _ranked(snapshot: list[UnitProgress]) -> list[UnitProgress]:
    return sorted(snapshot, key=lambda p: (-(p.completion_rate or -1.0), p.unit_code))


async def cmd_status(message: Message, command: CommandObject, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, locale: str,
                     settings: Settings, now: datetime) -> None:
    """Today's matrix for the user's subtree: submitted, late, missing; totals; ranking."""
    root, phase, rest = await _scope(session, principal, command.args or "", own_unit_ok=True)
    if root is None:
        await message.answer(i18n("/status is for liaisons, office heads and leaders."))
        return
    if rest:
        await message.answer(_unknown_word(i18n, "/status", rest[0]))
        return
    phase = phase or "survey"
    snapshot = await progress_snapshot(session, root_code=root.code, phase=phase, now=now)
    if not snapshot:
        await message.answer(i18n("No unit under %(unit)s reports on this table.")
                             % {"unit": root.display_name(locale)})
        return
    template = get_template(phase)
    totals = await rollup(session, root.code, snapshot)
    root_total = next((r for r in totals if r.unit_code == root.code), None)
    lines: list[dict[str, Any]] = []
    for f in template.fields:
        if f.type != "target_count" or root_total is None:
            continue
        target = root_total.targets.get(f.target or "")
        value = root_total.values.get(f.key, 0.0)
        rate = round(100.0 * value / target, 1) if target else None
        new = root_total.new_found.get(f.target or "") if f.counted else None
        lines.append({"label": f.label_for(locale), "value": fmt(value),
                      "target": fmt(target) if target else None, "rate": rate,
                      "new_found": fmt(new) if new else None})
    for f in template.fields:
        if f.type == "percent" and root_total is not None and f.key in root_total.values:
            lines.append({"label": f.label_for(locale) + " " + i18n("(mean)"),
                          "value": fmt(root_total.values[f.key]) + "%", "target": None,
                          "rate": None})
    ranked = _ranked(snapshot)
    rows = []
    for rank, p in enumerate(ranked, 1):
        change = None
        if p.completion_rate is not None and p.previous_rate is not None:
            delta = round(p.completion_rate - p.previous_rate, 1)
            change = ("+" if delta >= 0 else "") + fmt(delta)
        rows.append({"rank": rank, "name": p.display_name(locale), "icon": ICONS[p.status],
                     "status": status_names(i18n)[p.status], "rate": p.completion_rate,
                     "change": change,
                     "at": local_time(p.submitted_at, settings.tz, "%H:%M") or None})
    p0 = snapshot[0]
    counts = {s: sum(1 for p in snapshot if p.status == s) for s in ICONS}
    text = render(
        "reports/status.html.j2", i18n, root=root.display_name(locale),
        table=template.name_for(locale), period=period_text(p0.period_start, p0.period_end,
                                                             locale),
        deadline=local_time(p0.deadline, settings.tz, "%H:%M"), counts=counts,
        total=len(snapshot), rows=rows, lines=lines,
        rate=root_total.completion_rate if root_total else None,
        late=[p.display_name(locale) for p in snapshot if p.status == "late"],
        missing=[p.display_name(locale) for p in snapshot if p.status == "missing"],
        subtotals=[{"name": r.display_name(locale), "rate": r.completion_rate,
                    "done": r.by_status["submitted"] + r.by_status["late"], "units": r.units}
                   for r in totals if r.unit_code != root.code],
    )
    for chunk in _chunks(text):
        await message.answer(chunk)


async def cmd_export(message: Message, command: CommandObject, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, locale: str,
                     settings: Settings, now: datetime) -> None:
    """An XLSX of the period (this one, or the one containing a YYYY-MM-DD date given):
    a sheet per phase, a row per unit, totals."""
    root, phase, words = await _scope(session, principal, command.args or "")
    if root is None:
        await message.answer(i18n("/export is for office heads and leaders."))
        return
    dates = [w for w in words if _DATE_LIKE.fullmatch(w)]
    if len(dates) != len(words):
        await message.answer(_unknown_word(i18n, "/export", next(
            w for w in words if not _DATE_LIKE.fullmatch(w))))
        return
    try:
        day = date(*(int(part) for part in dates[0].split("-"))) if dates else None
    except ValueError:
        await message.answer(i18n("%(word)s is not a date: write it as YYYY-MM-DD, for example "
                                  "/export 2018-10-08.") % {"word": dates[0]})
        return
    active = {a.phase for a in await assignments(session, root_code=root.code)}
    known = [*PHASES, *sorted(set(templates()) - set(PHASES))]
    phases = [p for p in known if p in active and p in templates() and (phase in (None, p))]
    sheets = []
    for ph in phases:
        snapshot = await progress_snapshot(session, root_code=root.code, phase=ph, now=now,
                                           period_end=day)
        totals = await rollup(session, root.code, snapshot)
        sheets.append(ExportSheet(get_template(ph), snapshot,
                                  next((r for r in totals if r.unit_code == root.code), None)))
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
