"""Nightly: blank the phone numbers of roster records revoked long enough ago."""

from __future__ import annotations

from datetime import datetime

from bot.services.roster import privacy
from scheduling.jobs import JobContext, JobResult, JobSpec


async def run(ctx: JobContext, now: datetime) -> JobResult:
    """Redact departed staff's phone numbers after CENSUSBOT_PHONE_RETENTION_DAYS."""
    async with ctx.sessionmaker() as session:
        count = await privacy.redact_departed_phones(
            session, now=now, days=ctx.settings.phone_retention_days)
        await session.commit()  # the job's unit of work
    return JobResult(details={"phones_redacted": count})


JOB = JobSpec("privacy", run, "redact phone numbers of records revoked long ago")
