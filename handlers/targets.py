"""/target: an office head looks at and changes a unit's targets in chat (with history)."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models.org import Unit
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import OFFICE_ROLES, Principal
from bot.services.reports import targets as svc
from bot.services.reports.cadence import assignments
from bot.services.reports.checks import target_label
from bot.services.reports.quickform import parse_number
from bot.services.reports.submission import targets_for_units
from bot.services.reports.templates import fmt, get_template
from bot.services.shared.errors import DomainError
from bot.util.timefmt import local_time
from handlers.commands import N_, CommandInfo

ORDER = 42
COMMANDS = (
    CommandInfo("target", N_("See or change a unit's targets"), roles=OFFICE_ROLES,
                args=N_("UNIT_CODE [SOURCE NUMBER]")),
)


async def cmd_target(message: Message, command: CommandObject, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, locale: str,
                     settings: Settings, now: datetime) -> None:
    """`/target CODE` shows targets and history; `/target CODE 工业 13000` changes one."""
    words = (command.args or "").split()
    if not words or principal is None or not principal.has_any(OFFICE_ROLES):
        await message.answer(render("reports/targets_usage.html.j2", i18n))
        return
    code = words[0]
    found = [a for a in await assignments(session, under=[g.unit_path for g in
                                                          principal.units_for(OFFICE_ROLES)])
             if a.unit.code == code]
    if not found and await session.get(Unit, code) is None:
        raise DomainError("There is no unit with code %(code)s.", code=code[:32])
    if not found:
        raise DomainError("Only an office head above %(unit)s can change its targets.",
                          unit=code)
    if len(words) >= 3:
        value = parse_number(words[-1])
        word = " ".join(words[1:-1])
        phase = next((a.phase for a in found
                      if svc.resolve_key(get_template(a.phase), word)), None)
        if phase is None:
            raise DomainError("Target: “%(word)s” is not a source type of this table.",
                              word=word[:40])
        if value is None:
            raise DomainError("Target: enter a number, for example 13000.")
        key = svc.resolve_key(get_template(phase), word) or ""
        await svc.set_target(session, principal=principal, unit_code=code, phase=phase,
                             key=key, value=value, now=now)
    elif len(words) == 2:
        raise DomainError("Target: give the source type and the number, for example "
                          "%(example)s.", example="/target " + code + " 工业 13000")
    tables = []
    for a in found:
        template = get_template(a.phase)
        values = (await targets_for_units(session, [a.unit], a.phase))[code]
        changes = await svc.history(session, code, a.phase)
        tables.append({
            "name": template.name_for(locale),
            "targets": [{"label": target_label(template, k, locale), "value": fmt(values[k])}
                        for k in template.target_keys if k in values],
            "changes": [{"label": target_label(template, c.key, locale),
                         "old": fmt(c.old_value) if c.old_value is not None else "—",
                         "new": fmt(c.new_value), "by": c.changed_by,
                         "at": local_time(c.changed_at, settings.tz)} for c in changes]})
    await message.answer(render("reports/targets.html.j2", i18n,
                                unit=found[0].unit.display_name(locale), tables=tables))


def create_router() -> Router:
    """Routes for /target."""
    router = Router(name=__name__)
    router.message.register(cmd_target, Command("target"))
    return router
