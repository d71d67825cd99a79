"""Job `escalations`: the ladder after the deadline, late/lag marks, repeat offenders."""

from __future__ import annotations

from datetime import datetime

from bot.services import escalation
from scheduling.jobs import JobContext, JobResult, JobSpec


async def run(ctx: JobContext, now: datetime) -> JobResult:
    """Take every rung due as of `now` (idempotent per unit, period and rung)."""
    settings = escalation.load_settings(ctx.settings.data_dir)
    async with ctx.sessionmaker() as session:
        res = await escalation.run(session, now=now, settings=settings, tz=ctx.settings.tz)
        await session.commit()  # the job's unit of work (whatever the service left open)
    return JobResult(enqueued=res.enqueued, details={
        "late": res.late_marked, "lag": res.lag_marked, "summoned": res.summoned,
        "skipped_holiday": res.skipped_holiday})


JOB = JobSpec("escalations", run, "Escalation ladder, late marks, 约谈 list, lag")
