"""Job `escalations`: the ladder after the deadline, late/lag marks, repeat offenders."""

from __future__ import annotations

from datetime import datetime

from bot.services.deadlines import escalation
from scheduling.checkpoints import commit_and_yield
from scheduling.jobs import JobContext, JobResult, JobSpec


async def run(ctx: JobContext, now: datetime) -> JobResult:
    """Take every rung due as of `now` (idempotent per unit, period and rung)."""
    settings = escalation.load_settings(ctx.settings.data_dir)
    async with ctx.sessionmaker() as session:
        res = await escalation.run(session, now=now, settings=settings, tz=ctx.settings.tz,
                                   checkpoint=commit_and_yield(session))
        await session.commit()  # the job's unit of work: its last batch
    return JobResult(enqueued=res.enqueued, details={
        "late": res.late_marked, "lag": res.lag_marked, "summoned": res.summoned,
        "skipped_holiday": res.skipped_holiday})


JOB = JobSpec("escalations", run, "Escalation ladder, late marks, 约谈 list, lag")
