"""Job `orders`: repeat and escalate unacknowledged and overdue supervision orders and interview
actions, remind offices of unanswered "problems and needs", offer interviews for repeat
offenders."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.services.deadlines import escalation
from bot.services.shared.quiet_hours import in_quiet_hours
from bot.services.supervision import followup as orders_followup
from bot.services.supervision import interviews, problems
from bot.services.supervision.config import load_config
from scheduling.jobs import JobContext, JobResult, JobSpec


async def run(ctx: JobContext, now: datetime) -> JobResult:
    """Take every follow-up step due as of `now`; what it queues is due at `now` (or at once
    when `now` is ahead of the clock), so a replayed run delivers right away."""
    s = ctx.settings
    send_at = min(now, datetime.now(UTC))
    quiet = in_quiet_hours(now, s.quiet_start, s.quiet_end, s.tz)
    cfg = load_config(s.data_dir)
    async with ctx.sessionmaker() as session:
        res = await orders_followup.run(session, now=now, cfg=cfg, send_at=send_at, quiet=quiet)
        offered: list[str] = []
        overdue_items: list[int] = []
        if not quiet:
            esc = escalation.load_settings(s.data_dir)
            offered = await interviews.offer(session, now=now, esc=esc, send_at=send_at)
            overdue_items = await problems.remind_overdue(session, now=now, send_at=send_at)
        await session.commit()  # the job's unit of work
    return JobResult(enqueued=res.enqueued + len(offered) + len(overdue_items), details={
        "repeated": res.repeated, "escalated": res.escalated, "overdue": res.overdue,
        "interviews_offered": offered, "problems_overdue": overdue_items, "quiet_hours": quiet})


JOB = JobSpec("orders", run, "Supervision orders: repeat, escalate, overdue; 约谈 offers")
