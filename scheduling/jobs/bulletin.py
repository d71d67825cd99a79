"""Job `bulletin`: generate each series' draft for the period before (Mondays 09:00 by default
for a weekly series; daily and twice-weekly series have their own periods; on-demand series are
only generated with /bulletin new).

`censusbot jobs run bulletin --now ISO8601` generates the drafts for the period that `now`
falls after and sends them to the approvers through the outbox; publishing stays with the
approver unless the series publishes automatically. A rerun for the same period adds nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.services.bulletins import config as series_cfg
from bot.services.bulletins import series as svc
from scheduling.jobs import JobContext, JobResult, JobSpec

log = logging.getLogger(__name__)

# When the scheduler should run it (the default series' cadence: Mondays 09:00 local time).
CRON = {"day_of_week": "mon", "hour": 9, "minute": 0}


async def run(ctx: JobContext, now: datetime) -> JobResult:
    """Sync the series file, then generate (idempotently) each series' draft for its period."""
    result = JobResult()
    async with ctx.sessionmaker() as session:
        rows = await series_cfg.sync_series(session, series_cfg.load_series_config(), now=now)
        await session.commit()  # each step of the job is its own unit of work
    for row in rows:
        if series_cfg.series_config(row).every == "on_demand":
            result.details[row.id] = "on demand"
            continue
        async with ctx.sessionmaker() as session:
            outcome = await svc.generate(session, row.id, now=now, origin="schedule")
            await session.commit()
        if outcome is None:
            result.details[row.id] = "not started"
            continue
        b = outcome.bulletin
        result.enqueued += outcome.queued
        result.details[row.id] = {
            "bulletin": b.id, "period": f"{b.period_start}..{b.period_end}", "state": b.state,
            "number": b.number, "new": outcome.created, "recipients": len(outcome.recipients),
        }
        log.info("bulletin job: series %s period %s -> bulletin %s (%s, new=%s)",
                 row.id, b.period_start, b.id, b.state, outcome.created)
    return result


JOB = JobSpec("bulletin", run, "Generate the weekly bulletin drafts and send them for approval")
