"""Reminders before the deadline, to the liaisons of units that have not reported yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ReportUnit
from bot.db.models.outbox import OutboxMessage
from bot.services.deadlines.escalation import (
    DueToday,
    EscalationSettings,
    due_today,
    holders_by_unit,
    reported_units,
)
from bot.services.reports.templates import N_, templates
from bot.services.shared.outbox import notify
from bot.services.shared.pacing import Checkpoint, batches, no_checkpoint


@dataclass
class ReminderResult:
    """What a run queued."""

    enqueued: int = 0
    reminded_units: list[str] = field(default_factory=list)
    skipped_holiday: int = 0


async def run(session: AsyncSession, *, now: datetime, settings: EscalationSettings,
              checkpoint: Checkpoint = no_checkpoint) -> ReminderResult:
    """Remind, once per offset, every unit due today that has not reported. `checkpoint` ends
    each batch (the job commits there); the caller commits the rest.

    Only the latest offset whose time has come is sent (after downtime, one reminder rather
    than two at once); nothing after the deadline (that is the ladder's job). Batches of
    units: per batch one query for what is reported, one for the liaisons and one for the
    reminders already queued (a rerun skips them), then one short transaction.
    """
    result = ReminderResult()
    due, result.skipped_holiday = await due_today(session, now=now, settings=settings)
    todo: list[tuple[DueToday, int]] = []
    for d in due:
        current = [m for m in d.config.reminders_before
                   if d.deadline - timedelta(minutes=m) <= now < d.deadline]
        if current:
            todo.append((d, min(current)))
    await checkpoint()
    for batch in batches(todo):
        reported = await reported_units(session, [d for d, _ in batch])
        batch = [(d, off) for d, off in batch if d.unit.code not in reported]
        liaisons_of = await holders_by_unit(session, ["liaison"], [d.unit.code for d, _ in batch])
        keys = {id(d): f"remind:{d.unit.code}:{d.phase}:{d.period.end}:{off}" for d, off in batch}
        queued = set((await session.scalars(select(OutboxMessage.dedup_key).where(
            OutboxMessage.dedup_key.in_([f"{keys[id(d)]}:{uid}" for d, _ in batch
                                         for uid in liaisons_of[d.unit.code]])))).all())
        for d, _ in batch:
            code, phase = d.unit.code, d.phase
            liaisons = [u for u in liaisons_of[code] if f"{keys[id(d)]}:{u}" not in queued]
            minutes_left = max(1, int((d.deadline - now).total_seconds() // 60))
            n = await notify(session, now=now, users=liaisons, kind="reminder",
                             template="notices/reminder.html.j2", key=keys[id(d)],
                             unit=d.unit, phase=phase, deadline=d.deadline,
                             minutes_left=minutes_left, period_end=d.period.end,
                             report=templates().get(phase),
                             buttons=[(N_("📝 Report now"), ReportUnit("n", code, phase).pack())])
            if n:
                result.reminded_units.append(code)
            result.enqueued += n
        await checkpoint()
    return result
