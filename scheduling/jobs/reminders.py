"""Job `reminders`: remind liaisons of units that have not reported before the deadline."""

from __future__ import annotations

from datetime import datetime

from bot.services.deadlines import reminders
from bot.services.deadlines.escalation import load_settings
from scheduling.checkpoints import commit_and_yield
from scheduling.jobs import JobContext, JobResult, JobSpec


async def run(ctx: JobContext, now: datetime) -> JobResult:
    """Queue the reminders due as of `now` (idempotent per unit, period and offset)."""
    settings = load_settings(ctx.settings.data_dir)
    async with ctx.sessionmaker() as session:
        res = await reminders.run(session, now=now, settings=settings,
                                  checkpoint=commit_and_yield(session))
        await session.commit()  # the job's unit of work: its last batch
    return JobResult(enqueued=res.enqueued, details={"units": res.reminded_units,
                                                     "skipped_holiday": res.skipped_holiday})


JOB = JobSpec("reminders", run, "Reminders before the deadline to units not yet reported")
