"""Remind Q&A desks of questions still unanswered after CENSUSBOT_DESK_REMIND_AFTER minutes."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.i18n import Catalogs
from bot.services.faqdesk import desk as faq_desk
from scheduling.jobs import JobContext, JobResult, JobSpec


async def run(ctx: JobContext, now: datetime) -> JobResult:
    """Queue one reminder per open question and reminder round (reruns add nothing)."""
    after = timedelta(minutes=ctx.settings.desk_remind_after_minutes)
    async with ctx.sessionmaker() as session:
        queued = await faq_desk.remind(session, now=now, catalogs=Catalogs(), after=after,
                                       rounds=ctx.settings.desk_reminder_rounds)
        await session.commit()  # the job's unit of work
    return JobResult(enqueued=queued)


JOB = JobSpec("desk_reminders", run, "remind Q&A desks of unanswered questions")
