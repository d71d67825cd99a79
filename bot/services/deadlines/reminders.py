"""Reminders before the deadline, to the liaisons of units that have not reported yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ReportUnit
from bot.db.repo import users as users_repo
from bot.services.deadlines.escalation import EscalationSettings, due_today, unit_progress
from bot.services.reports.templates import N_, templates
from bot.services.shared.outbox import notify
from bot.services.shared.pacing import Pacer


@dataclass
class ReminderResult:
    """What a run queued."""

    enqueued: int = 0
    reminded_units: list[str] = field(default_factory=list)
    skipped_holiday: int = 0


async def run(session: AsyncSession, *, now: datetime,
              settings: EscalationSettings) -> ReminderResult:
    """Remind, once per offset, every unit due today that has not reported; commits.

    Only the latest offset whose time has come is sent (after downtime, one reminder rather
    than two at once); nothing after the deadline (that is the ladder's job).
    """
    result = ReminderResult()
    due, result.skipped_holiday = await due_today(session, now=now, settings=settings)
    pacer = Pacer(session)  # small transactions: updates run between batches of units
    await pacer.pause()
    for d in due:
        await pacer.step()
        unit, phase, cfg, deadline, code = d.unit, d.phase, d.config, d.deadline, d.unit.code
        if now >= deadline:
            continue
        current = [m for m in cfg.reminders_before if deadline - timedelta(minutes=m) <= now]
        if not current:
            continue
        offset = min(current)
        p = await unit_progress(session, unit_code=code, phase=phase, now=now)
        if p.status in ("submitted", "late"):
            continue
        liaisons = list(await users_repo.holders(session, ["liaison"], code))
        minutes_left = max(1, int((deadline - now).total_seconds() // 60))
        n = await notify(session, now=now, users=liaisons, kind="reminder",
                         template="notices/reminder.html.j2",
                         key=f"remind:{code}:{phase}:{p.period_end}:{offset}", unit=unit,
                         phase=phase, deadline=deadline, minutes_left=minutes_left,
                         period_end=p.period_end, report=templates().get(phase),
                         buttons=[(N_("📝 Report now"), ReportUnit("n", code, phase).pack())])
        if n:
            result.reminded_units.append(code)
        result.enqueued += n
    await session.commit()
    return result
